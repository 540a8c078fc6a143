"""Kernel test setup: kernelspecs for the real engine and the scripted fake engine, installed
into a private JUPYTER_PATH (set at import, before any kernel manager reads it)."""
from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from harness import install_test_specs  # noqa: E402

_SPEC_ROOT = Path(tempfile.mkdtemp(prefix="bt-kernel-specs-"))
atexit.register(shutil.rmtree, _SPEC_ROOT, True)
install_test_specs(_SPEC_ROOT)
os.environ["JUPYTER_PATH"] = str(_SPEC_ROOT)
