"""Loader tests import their hand-made BPF programs from bpfprog.py next to this file."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
