"""Seeded, reproducible generation of bpftrace programs for the fuzz suite.

Two sources: a grammar-aware generator that builds random (mostly well-typed, sometimes not)
programs from the language's constructs, and a mutator that damages a corpus of valid programs
(byte and token level).  `programs(seed, count)` yields `(label, text)` pairs; the same seed
always yields the same programs, so a failure report names the seed and index to replay.
"""
from __future__ import annotations

import random
from typing import Iterator

CORPUS = [
    'BEGIN { printf("hello %d\\n", 5); exit(); }',
    'BEGIN { @x = 1; @y[1, "a"] = 2; exit(); }',
    'BEGIN { $i = 0; while ($i < 10) { $i++; if ($i == 5) { break; } } printf("%d\\n", $i); exit(); }',
    'BEGIN { unroll(3) { @c = count(); } exit(); }',
    'BEGIN { @h = hist(10); @l = lhist(5, 0, 100, 10); @s = stats(3); @a = avg(2); exit(); }',
    'tracepoint:syscalls:sys_enter_openat { printf("%s %s\\n", comm, str(args->filename)); }',
    'tracepoint:raw_syscalls:sys_enter { @[comm] = count(); }',
    'tracepoint:syscalls:sys_exit_read /args->ret > 0/ { @bytes = sum(args->ret); }',
    'interval:ms:100 { $i = 0; while ($i <= 10) { printf("%d ", $i); $i++; } exit(); }',
    'BEGIN { $t = (1, "two", 3); printf("%d %s\\n", $t.0, $t.1); exit(); }',
    'BEGIN { @m[1] = 1; @m[2] = 2; print(@m, 1, 1); clear(@m); exit(); }',
    'BEGIN { printf("%-10s|%5d|%x\\n", "a", 42, 255); exit(); }',
    'BEGIN { if (1 > 2) { printf("a\\n"); } else if (2 > 1) { printf("b\\n"); } else { printf("c\\n"); } exit(); }',
    'BEGIN { @a = 5; @a += 3; @a <<= 1; $x = @a > 10 ? 1 : 0; print($x); exit(); }',
    'tracepoint:sched:sched_switch { @[args->prev_comm] = count(); } interval:s:1 { exit(); }',
]

PROBES = ["BEGIN", "END", "interval:ms:50", "tracepoint:syscalls:sys_enter_openat",
          "tracepoint:raw_syscalls:sys_enter", "profile:hz:99", "software:faults:1",
          "tracepoint:sched:sched_switch", "kprobe:vfs_read", "begin", "nosuch:x", "t:syscalls:sys_*"]
BUILTINS = ["pid", "tid", "uid", "gid", "cpu", "comm", "nsecs", "elapsed", "rand", "cgroup",
            "probe", "curtask", "username", "arg0", "retval", "args", "$1", "$#", "kstack"]
BINOPS = ["+", "-", "*", "/", "%", "&", "|", "^", "<<", ">>", "==", "!=", "<", ">", "<=", ">=",
          "&&", "||"]
UNOPS = ["-", "!", "~"]
FUNCS = ["count()", "sum({e})", "avg({e})", "min({e})", "max({e})", "stats({e})", "hist({e})",
         "lhist({e}, 0, 100, 10)", "str({e})", "printf(\"%d\\n\", {e})", "print({e})",
         "exit()", "delete(@m[{e}])", "clear(@m)", "zero(@m)", "ntop({e})", "strncmp(\"a\", \"b\", {e})",
         "sizeof({e})", "system(\"true\")", "join({e})", "time(\"%H\")", "strftime(\"%H\", {e})",
         "cgroupid(\"/\")", "ksym({e})", "nosuch({e})", "printf({e})", "signal(\"KILL\")"]
TOKENS = ["{", "}", "(", ")", ";", "/", "@", "$", ",", "\"", "[", "]", "->", ".", "=", "?", ":",
          "if", "else", "while", "unroll", "BEGIN", "0x", "99999999999999999999999", "\x00",
          "\r\n", "é", "\xff", "/*", "*/", "//", "#include <linux/sched.h>\n"]


class ProgramGenerator:
    def __init__(self, rng: random.Random):
        self.rng = rng

    def expr(self, depth: int = 0) -> str:
        r = self.rng
        if depth > 4 or r.random() < 0.3:
            return r.choice([str(r.randint(-5, 2 ** 20)), r.choice(BUILTINS), '"s"', "$x", "@m[1]",
                             "@", str(r.choice([0, 1, 2 ** 63, 2 ** 64 - 1]))])
        kind = r.random()
        if kind < 0.45:
            return f"({self.expr(depth + 1)} {r.choice(BINOPS)} {self.expr(depth + 1)})"
        if kind < 0.6:
            return f"{r.choice(UNOPS)}{self.expr(depth + 1)}"
        if kind < 0.7:
            return f"({self.expr(depth + 1)} ? {self.expr(depth + 1)} : {self.expr(depth + 1)})"
        if kind < 0.8:
            return f"({r.choice(['uint8', 'int32', 'uint64', 'int16'])}){self.expr(depth + 1)}"
        if kind < 0.9:
            return f"({self.expr(depth + 1)}, {self.expr(depth + 1)})"
        return r.choice(FUNCS).replace("{e}", self.expr(depth + 1))

    def stmt(self, depth: int = 0) -> str:
        r = self.rng
        kind = r.random()
        if depth < 3 and kind < 0.12:
            return f"if ({self.expr()}) {{ {self.block(depth + 1)} }} else {{ {self.block(depth + 1)} }}"
        if depth < 3 and kind < 0.18:
            return f"unroll({r.choice([1, 2, 5, 100, 101, 0])}) {{ {self.block(depth + 1)} }}"
        if depth < 3 and kind < 0.22:
            return f"$i = 0; while ($i < {r.randint(0, 50)}) {{ $i++; {self.block(depth + 1)} }}"
        if kind < 0.45:
            return f"@m[{self.expr()}] = {self.expr()}"
        if kind < 0.6:
            return f"$x = {self.expr()}"
        if kind < 0.75:
            return f"@{r.choice(['a', 'b', ''])} = {r.choice(FUNCS).replace('{e}', self.expr())}"
        return self.expr()

    def block(self, depth: int = 0) -> str:
        return "; ".join(self.stmt(depth) for _ in range(self.rng.randint(0, 4)))

    def program(self) -> str:
        r = self.rng
        probes = []
        for _ in range(r.randint(1, 3)):
            pred = f" /{self.expr()}/" if r.random() < 0.3 else ""
            probes.append(f"{r.choice(PROBES)}{pred} {{ {self.block()} }}")
        return "\n".join(probes)


def mutate(rng: random.Random, text: str) -> str:
    ops = rng.randint(1, 4)
    for _ in range(ops):
        pos = rng.randint(0, len(text))
        op = rng.random()
        if op < 0.3 and text:
            end = min(len(text), pos + rng.randint(1, 8))
            text = text[:pos] + text[end:]
        elif op < 0.6:
            text = text[:pos] + rng.choice(TOKENS) + text[pos:]
        elif op < 0.8 and text:
            end = min(len(text), pos + rng.randint(1, 20))
            text = text[:pos] + text[pos:end] * rng.randint(2, 5) + text[end:]
        else:
            text = text[:pos] + chr(rng.randint(0, 0x2FF)) + text[pos:]
    return text


def deep_nesting_cases() -> list[tuple[str, str]]:
    """Programs that crash or hang bpftrace 0.17: deep nesting, huge literals and widths."""
    n = 20000
    return [
        ("parens", "BEGIN { $x = " + "(" * n + "1" + ")" * n + "; }"),
        ("unary", "BEGIN { $x = " + "-" * n + "1; }"),
        ("plus-chain", "BEGIN { $x = " + " + ".join(["1"] * n) + "; }"),
        ("blocks", "BEGIN { " + "if (1) { " * 2000 + "$x = 1;" + " }" * 2000 + " }"),
        ("huge-literal", "BEGIN { $x = 999999999999999999999999999999; }"),
        ("huge-width", 'BEGIN { printf("%999999999d\\n", 1); }'),
        ("nested-unroll", "BEGIN { unroll(100) { unroll(100) { unroll(100) { @x++; } } } }"),
        ("nul-bytes", "BEGIN { printf(\"a\x00b\"); }"),
        ("megabyte", "BEGIN { " + "@x = 1; " * 130000 + "}"),
    ]


def programs(seed: int, count: int) -> Iterator[tuple[str, str]]:
    rng = random.Random(seed)
    gen = ProgramGenerator(rng)
    for i in range(count):
        if i % 2 == 0:
            yield f"seed={seed} #{i} generated", gen.program()
        else:
            yield f"seed={seed} #{i} mutated", mutate(rng, rng.choice(CORPUS))
