"""Re-capture the golden outputs from the reference bpftrace 0.17.

Usage: python tests/golden/capture.py [case ...]   (root; needs `bpftrace` on PATH)

For every `cases/<name>.bt` this runs `bpftrace <name>.bt` and `bpftrace -f json <name>.bt`
and stores stdout as `<name>.txt` / `<name>.json`.  The tests never run this: they compare
our renderers with the stored captures, and `test_golden_capture.py` (marked `bpftrace`)
checks that the stored captures still match what bpftrace prints.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

CASES = Path(__file__).resolve().parent / "cases"


def run_bpftrace(program: Path, json: bool, timeout: float = 30.0) -> str:
    """stdout of bpftrace 0.17 running `program` (text or -f json)."""
    cmd = ["bpftrace"] + (["-f", "json"] if json else []) + [str(program)]
    proc = subprocess.run(cmd, capture_output=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"{program.name}: bpftrace exited {proc.returncode}: "
                           f"{proc.stderr.decode(errors='replace')}")
    return proc.stdout.decode("utf-8", "surrogateescape")


def capture(name: str) -> None:
    program = CASES / f"{name}.bt"
    for json, ext in ((False, ".txt"), (True, ".json")):
        out = run_bpftrace(program, json)
        (CASES / f"{name}{ext}").write_bytes(out.encode("utf-8", "surrogateescape"))


def main(argv: list[str]) -> int:
    names = argv or sorted(p.stem for p in CASES.glob("*.bt"))
    for name in names:
        capture(name)
        print(f"captured {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
