"""Fixtures for the dynamic-probe tests: small C programs built at test time into
tests/_build/dynamic/, and helpers that run pybpftrace and bpftrace 0.17 on the same workload."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "tests" / "_build" / "dynamic"
SDT_HEADERS = ("/usr/include/sys/sdt.h", "/usr/include/x86_64-linux-gnu/sys/sdt.h")

# A PIE calling a function of its own and one of a shared library; USDT probes with register,
# memory and constant operands; a semaphore-guarded probe in the library.
LIB_C = r"""
#define _SDT_HAS_SEMAPHORES 1
#include <sys/sdt.h>
unsigned short dynlib_libcall_semaphore __attribute__((unused)) __attribute__((section(".probes")));
__attribute__((noinline)) long lib_scale(long x, long k) {
    if (dynlib_libcall_semaphore) STAP_PROBE2(dynlib, libcall, x, k);
    return x * k;
}
"""
APP_C = r"""
#include <sys/sdt.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
long lib_scale(long x, long k);
struct point { int x; int y; };
static struct point table[4] = {{1, 2}, {3, 4}, {5, 6}, {7, 8}};
__attribute__((noinline)) int dyn_add(int a, int b) { return a + b; }
__attribute__((noinline)) int dyn_mul(int a, int b) { return a * b; }
int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 3;
    if (argc > 2) usleep(atoi(argv[2]) * 1000);
    long total = 0;
    for (int i = 0; i < n; i++) {
        total += dyn_add(i, 10) + dyn_mul(i, 3) + lib_scale(i, 7);
        DTRACE_PROBE3(dynapp, tick, i, total, table[i & 3].y);
    }
    DTRACE_PROBE1(dynapp, done, -5);
    (void)total;
    return 0;
}
"""


def _run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, timeout=120, capture_output=True, text=True, **kw)


@pytest.fixture(scope="session")
def dynapp() -> Path:
    """tests/_build/dynamic/dynapp (PIE, rpath to its libdynlib.so)."""
    if not shutil.which("gcc"):
        pytest.skip("gcc is not installed")
    if not any(Path(p).exists() for p in SDT_HEADERS):
        pytest.skip("<sys/sdt.h> is missing (apt-get install systemtap-sdt-dev)")
    BUILD.mkdir(parents=True, exist_ok=True)
    (BUILD / "dynlib.c").write_text(LIB_C)
    (BUILD / "dynapp.c").write_text(APP_C)
    _run(["gcc", "-O1", "-shared", "-fPIC", "-o", str(BUILD / "libdynlib.so"),
          str(BUILD / "dynlib.c")])
    _run(["gcc", "-O1", "-fPIE", "-pie", "-o", str(BUILD / "dynapp"), str(BUILD / "dynapp.c"),
          f"-L{BUILD}", "-ldynlib", f"-Wl,-rpath,{BUILD}"])
    return BUILD / "dynapp"


def pybpftrace(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bpftrace_kernel.cli", *args],
                          capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def bpftrace(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    proc = subprocess.run(["bpftrace", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)
    proc.stderr = "".join(line for line in proc.stderr.splitlines(keepends=True)
                          if "RLIMIT_MEMLOCK" not in line)
    return proc


def both(*args: str, timeout: float = 60) -> tuple:
    """(pybpftrace, bpftrace) runs of the same arguments."""
    return pybpftrace(*args, timeout=timeout), bpftrace(*args, timeout=timeout)


@pytest.fixture
def need_bpftrace():
    if shutil.which("bpftrace") is None:
        pytest.skip("bpftrace 0.17 is not installed (apt-get install bpftrace)")
