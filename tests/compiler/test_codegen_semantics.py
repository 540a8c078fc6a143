"""Integer, string and operator semantics computed in the kernel agree with bpftrace 0.17.

Each expression is printed with printf("%ld") by the real bpftrace and by our compiled
program (decoded from the ring buffer); the 64-bit values must be equal.
"""
import re
import subprocess
import time

import pytest

from bpftrace_compiler.pipeline import compile_source

EXPRESSIONS = [
    "1 + 2 * 3", "(1 + 2) * 3", "-5 / 2", "7 % 3", "-7 % 3", "1 << 10", "-16 >> 2",
    "(uint64)-16 >> 2", "0xff & 0x0f", "0xf0 | 0x0f", "0xff ^ 0x0f", "~0", "!0", "!5",
    "5 > 3", "-1 < 1", "pid < -1", "3 >= 3", "2 <= 1", "1 == 1", "1 != 1", "1 && 0", "1 || 0",
    "0 || 0", "2 && 3", "(uint8)300", "(int8)200", "(int16)70000", "(uint32)-1", "1 ? 10 : 20",
    "0 ? 10 : 20", "$1 + 1", "$#", "$2", "10 / 0", "10 % 0", '"abc" == "abc"', '"abc" == "abd"',
    '"abc" != "ab"', 'strncmp("abcd", "abcx", 3)', 'strncmp("abcd", "abcx", 4)',
    "sizeof(uint32)", 'sizeof("hello")', "1000000000 * 10", "-(3)",
]
PROGRAM = ("BEGIN { $i = 0; $s = 0; while ($i < 10) { $i++; if ($i % 2 == 0) { continue; } "
           "if ($i > 7) { break; } $s += $i; } "
           + " ".join(f'printf("%ld\\n", {e});' for e in EXPRESSIONS)
           + ' printf("%ld\\n", $s); unroll(3) { $s = $s * 2; } printf("%ld\\n", $s);'
           + ' @x = 5; @x++; @x += 10; printf("%ld\\n", @x); exit(); }')
PARAMS = ("5", "0x10")


def ours():
    from bpftrace_loader.session import Session
    prog = compile_source(PROGRAM, params=PARAMS)
    values = []
    with Session(prog) as session:
        session.start()
        deadline = time.time() + 5
        done = False
        while not done and time.time() < deadline:
            for e in session.poll(0.05):
                if type(e).__name__ == "Printf":
                    values.append(e.args[0] % (1 << 64))
                done = done or type(e).__name__ == "Exit"
        session.stop()
    return values


def reference():
    out = subprocess.run(["bpftrace", "-e", PROGRAM, *PARAMS], capture_output=True, text=True,
                         timeout=30).stdout
    return [int(x) % (1 << 64) for x in re.findall(r"^-?\d+$", out, re.M)]


@pytest.mark.root
@pytest.mark.bpftrace
def test_expression_values_match_bpftrace():
    expected = reference()
    got = ours()
    assert len(expected) == len(EXPRESSIONS) + 3
    labels = EXPRESSIONS + ["loop sum", "unrolled", "map ++/+="]
    assert dict(zip(labels, got)) == dict(zip(labels, expected))


CLI_PROGRAMS = [
    ('BEGIN { @y = count(); @y = count(); $x = @y; print($x); @z = $x;'
     ' exit(); printf("after exit\\n"); @w = 1; }', ()),
    ('BEGIN { @big = hist(1 << 40); @big = hist(5000000000); @h = hist(0); @h = hist(1000);'
     ' printf("%s %s|%s|%r|%rx\\n", ntop(pton("fe80::1:2")), ntop(pton("10.1.2.3")),'
     ' str(kaddr("linux_banner"), 5), buf("abcdef", $1), buf("xyz", 2));'
     ' $b = (int8)-3; @b = $b; @mx = max(-5); @mx2 = max(7); exit(); }', ("3",)),
    ('BEGIN { @c = count(); @s[1, "a"] = sum(-3); @h = hist(100); @h = hist(-1);'
     ' @l = lhist(15, 0, 100, 10); @a = avg(10); @st = stats(5); @st = stats(8); @t = (1, "x");'
     ' @str = "abc"; @mx = max(-5); @mn = min(5); @z = max(0); exit(); }', ()),
    ('BEGIN { $t = (1, -2, "s"); print($t); print(5); print("x"); @x[1] = 2; @x[3] = 1;'
     ' print(@x); print(@x, 1); print(@x, 0, 2); clear(@x); @y = 1; delete(@y); exit(); }', ()),
    ('BEGIN { printf("%s|%s|%s|%d|%d\\n", str($1), str($2, 3), str($3), $2, $#); exit(); }',
     ("hello", "world")),
    ('BEGIN { printf("%s|%s|%s|%d|%d\\n", str($1), str($2, 3), str($3), $2, $#); exit(); }',
     ("hello", "42")),
    ('BEGIN { $a = pid / 2; $c = pid / -1; $v = -1; $g = $v == pid; $s = "a";'
     ' $t = $s == "b" ? "B" : "notb"; printf("%s %s\\n", $t, ntop(0x0100007f)); exit(); }', ()),
]


def _cli(argv, params):
    out = subprocess.run([*argv, *params], capture_output=True, text=True, timeout=30)
    err = "".join(l + "\n" for l in out.stderr.splitlines() if "RLIMIT_MEMLOCK" not in l)
    return out.stdout, err


@pytest.mark.root
@pytest.mark.bpftrace
@pytest.mark.parametrize("src,params", CLI_PROGRAMS, ids=range(len(CLI_PROGRAMS)))
def test_cli_output_is_byte_identical_to_bpftrace(src, params):
    import shutil
    import sys
    from pathlib import Path
    ours = Path(sys.executable).with_name("pybpftrace")
    if not ours.exists():
        pytest.skip("the pybpftrace CLI is not installed in this environment")
    assert _cli([str(ours), "-e", src], params) == _cli(["bpftrace", "-e", src], params)
