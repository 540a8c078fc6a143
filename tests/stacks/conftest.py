"""Fixtures for the stack, symbol and flame graph tests: a C program with a known call chain
(main -> outer -> middle -> leaf, leaf spinning on the CPU), built at test time with frame
pointers into tests/_build/stacks/, and helpers running pybpftrace and bpftrace on it."""
from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD_DIR = ROOT / "tests" / "_build" / "stacks"
PYBPFTRACE = [sys.executable, "-m", "bpftrace_kernel.cli"]

# -O0: gcc 12 drops leaf functions' frame pointer at -O1 even with -mno-omit-leaf-frame-pointer
CFLAGS = ("-O0", "-fno-omit-frame-pointer")
CHAIN_C = r"""
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
volatile unsigned long sink;
__attribute__((noinline)) void leaf(void) { for (unsigned long i = 0; i < 2000000; i++) sink += i; }
__attribute__((noinline)) void middle(void) { leaf(); sink++; }
__attribute__((noinline)) void outer(void) { middle(); sink++; }
int main(int argc, char **argv) {
    double seconds = argc > 1 ? atof(argv[1]) : 0;     /* 0: run until killed */
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    printf("%d\n", getpid()); fflush(stdout);
    for (;;) {
        outer();
        usleep(2000);
        clock_gettime(CLOCK_MONOTONIC, &t);
        if (seconds > 0 && (t.tv_sec - t0.tv_sec) + (t.tv_nsec - t0.tv_nsec) / 1e9 > seconds)
            return 0;
    }
}
"""


def build_chain() -> Path:
    """tests/_build/stacks/chain, rebuilt when this file (its source) is newer."""
    target = BUILD_DIR / "chain"
    if target.is_file() and target.stat().st_mtime >= Path(__file__).stat().st_mtime:
        return target
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        pytest.skip("gcc is not installed")
    BUILD_DIR.mkdir(parents=True, exist_ok=True)
    with open(BUILD_DIR / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        src = BUILD_DIR / "chain.c"
        src.write_text(CHAIN_C)
        tmp = BUILD_DIR / f"chain.{os.getpid()}"
        subprocess.run([gcc, *CFLAGS, "-o", str(tmp), str(src)], check=True, timeout=120,
                       capture_output=True)
        tmp.replace(target)
    return target


@pytest.fixture(scope="session")
def chain_binary() -> Path:
    return build_chain()


@pytest.fixture
def spinning(chain_binary):
    """A running copy of the chain program: (pid, path)."""
    proc = subprocess.Popen([str(chain_binary)], stdout=subprocess.PIPE, text=True)
    try:
        pid = int(proc.stdout.readline())
        yield pid, chain_binary
    finally:
        proc.kill()
        proc.wait(timeout=10)


def run_tracer(argv: list[str], program: str, *extra: str, timeout: float = 60
               ) -> subprocess.CompletedProcess:
    """Run a tracer (PYBPFTRACE or ["bpftrace"]) on `program`; text output, checked exit."""
    proc = subprocess.run([*argv, *extra, "-e", program], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    return proc


def need_bpftrace() -> None:
    if shutil.which("bpftrace") is None:
        pytest.skip("the reference bpftrace is not installed")
