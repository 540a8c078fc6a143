"""Fixtures for the symbol tests: tiny C programs compiled with gcc at test time."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

SDT_HEADERS = ("/usr/include/sys/sdt.h", "/usr/include/x86_64-linux-gnu/sys/sdt.h")

PLAIN_C = r"""
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
long global_counter = 7;
static volatile int static_table[16];
__attribute__((noinline)) int leaf_function(int x) { return x * 3 + static_table[x & 15]; }
__attribute__((noinline)) int middle_function(int x) { return leaf_function(x) + 1; }
int main(int argc, char **argv) {
    if (argc > 1) { printf("%d\n", getpid()); fflush(stdout); pause(); }
    return middle_function(argc) == 12345;
}
"""

USDT_C = r"""
#include <sys/sdt.h>
#include <stdio.h>
#include <unistd.h>
long counter = 42;
int guarded(int a, long b);
int main(int argc, char **argv) {
    int a = argc; long b = argc * 1000L; short s = -3; unsigned char uc = 200;
    DTRACE_PROBE4(app, plain, a, b, s, uc);
    DTRACE_PROBE2(app, global, counter, 5);
    if (argc > 1) { printf("%d\n", getpid()); fflush(stdout); pause(); }
    return guarded(a, b);
}
"""

# a second translation unit: semaphores are per compilation unit (_SDT_HAS_SEMAPHORES)
USDT_SEM_C = r"""
#define _SDT_HAS_SEMAPHORES 1
#include <sys/sdt.h>
unsigned short app_guarded_semaphore __attribute__((unused)) __attribute__((section(".probes")));
extern long counter;
int guarded(int a, long b) {
    if (app_guarded_semaphore) counter++;
    STAP_PROBE2(app, guarded, a, b);
    return 0;
}
"""


def _gcc(tmp: Path, name: str, sources: str | list[str], *flags: str) -> Path:
    if not shutil.which("gcc"):
        pytest.skip("gcc is not installed")
    files = []
    for i, text in enumerate([sources] if isinstance(sources, str) else sources):
        src = tmp / f"{name}_{i}.c"
        src.write_text(text)
        files.append(str(src))
    out = tmp / name
    subprocess.run(["gcc", *flags, "-o", str(out), *files], check=True, timeout=60,
                   capture_output=True)
    return out


@pytest.fixture(scope="session")
def plain_binaries(tmp_path_factory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("elf")
    return {
        "pie": _gcc(tmp, "plain_pie", PLAIN_C, "-O1", "-fno-omit-frame-pointer", "-pie", "-fPIE"),
        "nopie": _gcc(tmp, "plain_nopie", PLAIN_C, "-O1", "-fno-omit-frame-pointer", "-no-pie"),
    }


@pytest.fixture(scope="session")
def usdt_binaries(tmp_path_factory) -> dict[str, Path]:
    if not any(Path(p).exists() for p in SDT_HEADERS):
        pytest.skip("<sys/sdt.h> is missing (apt-get install systemtap-sdt-dev)")
    tmp = tmp_path_factory.mktemp("usdt")
    return {"O0": _gcc(tmp, "usdt_O0", [USDT_C, USDT_SEM_C], "-O0"),
            "O2": _gcc(tmp, "usdt_O2", [USDT_C, USDT_SEM_C], "-O2")}


LOOP_C = r"""
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
volatile int sink;
__attribute__((noinline)) int leaf_function(int x) { return x * 3 + sink; }
__attribute__((noinline)) int middle_function(int x) { return leaf_function(x) + 1; }
int main(int argc, char **argv) {
    printf("%d\n", getpid()); fflush(stdout);
    for (;;) {
        sink = middle_function(argc);
        char *p = malloc(64); p[0] = (char)sink; sink += p[0]; free(p);
        sink += getpid();
        usleep(2000);
    }
}
"""


@pytest.fixture(scope="session")
def loop_binary(tmp_path_factory) -> Path:
    """A PIE that calls leaf_function every 2 ms (frame pointers kept, so ustack works)."""
    return _gcc(tmp_path_factory.mktemp("loop"), "loop", LOOP_C, "-O0",
                "-fno-omit-frame-pointer")


CXX_SRC = r"""
namespace shapes { struct Circle { double r; double area() const; };
double Circle::area() const { return 3.14159 * r * r; } }
__attribute__((noinline)) int cpp_mangled(int x) { return x + 1; }
__attribute__((noinline)) int cpp_mangled(double x) { return (int)x; }
int main(int argc, char **) { shapes::Circle c{(double)argc}; return (int)c.area() + cpp_mangled(argc) + cpp_mangled(1.5); }
"""


@pytest.fixture(scope="session")
def cxx_binary(tmp_path_factory) -> Path:
    if not shutil.which("g++"):
        pytest.skip("g++ is not installed")
    tmp = tmp_path_factory.mktemp("cxx")
    src = tmp / "prog.cc"
    src.write_text(CXX_SRC)
    out = tmp / "cxxprog"
    subprocess.run(["g++", "-O1", "-o", str(out), str(src)], check=True, timeout=60,
                   capture_output=True)
    return out
