"""Builds the workload C programs (tests/workloads/*.c) with gcc into tests/_build/.

Binaries are static (no dynamic loader system calls, so every tracer sees the same events) and
keep frame pointers and symbols (for ustack and uprobes).  A build happens only when the source
is newer than the binary; concurrent builders serialise on a lock file.
"""
from __future__ import annotations

import fcntl
import shutil
import subprocess
from pathlib import Path

SOURCES = Path(__file__).resolve().parent
BUILD_DIR = SOURCES.parent / "_build"
CFLAGS = ("-O1", "-g", "-static", "-fno-omit-frame-pointer", "-fno-inline-small-functions")


class BuildError(RuntimeError):
    """gcc is missing or a workload failed to compile."""


def binary(name: str) -> Path:
    """The path of workload `name` (e.g. "cfwork"), built if it is missing or stale."""
    source = SOURCES / f"{name}.c"
    if not source.is_file():
        raise BuildError(f"no workload source {source}")
    target = BUILD_DIR / name
    if _fresh(source, target):
        return target
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        raise BuildError("gcc is not installed (apt-get install gcc libc6-dev)")
    BUILD_DIR.mkdir(parents=True, exist_ok=True)
    with open(BUILD_DIR / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _fresh(source, target):
            return target
        tmp = target.with_suffix(".tmp")
        proc = subprocess.run([gcc, *CFLAGS, "-o", str(tmp), str(source)],
                              capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            raise BuildError(f"gcc failed for {source.name}:\n{proc.stderr}")
        tmp.replace(target)
    return target


def build_all() -> list[Path]:
    """Build every workload; returns their paths."""
    return [binary(src.stem) for src in sorted(SOURCES.glob("*.c"))]


def _fresh(source: Path, target: Path) -> bool:
    return target.is_file() and target.stat().st_mtime >= source.stat().st_mtime


if __name__ == "__main__":
    for path in build_all():
        print(path)
