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


class TypedProgramGenerator:
    """Mostly well-typed programs, so that semantic analysis, codegen and the verifier see
    deep, varied code and not only the first error: one name per type ($i* ints, $s*
    strings, @n int, @m int->int, @c str->count, @h hist, @l lhist), declared before use."""

    INT_LEAVES = ["pid", "tid", "cpu", "uid", "gid", "nsecs", "elapsed", "rand", "cgroup",
                  "$i0", "$i1", "@n", "@m[1]", "@m[$i0]", "$#"]
    STR_LEAVES = ['"abc"', "comm", "$s0", '""']
    SAFE_BINOPS = ["+", "-", "*", "/", "%", "&", "|", "^", "<<", ">>", "==", "!=", "<", ">",
                   "<=", ">=", "&&", "||"]

    def __init__(self, rng: random.Random):
        self.rng = rng

    def int_expr(self, depth: int = 0) -> str:
        r = self.rng
        if depth > 3 or r.random() < 0.35:
            return r.choice(self.INT_LEAVES + [str(r.choice([0, 1, 7, 255, 4096, 2 ** 32, -3]))])
        kind = r.random()
        if kind < 0.45:
            return f"({self.int_expr(depth + 1)} {r.choice(self.SAFE_BINOPS)} {self.int_expr(depth + 1)})"
        if kind < 0.55:
            return f"{r.choice(['-', '!', '~'])}({self.int_expr(depth + 1)})"
        if kind < 0.65:
            return f"({self.int_expr(depth + 1)} ? {self.int_expr(depth + 1)} : {self.int_expr(depth + 1)})"
        if kind < 0.75:
            return f"({r.choice(['uint8', 'int8', 'uint16', 'int32', 'uint64', 'int64'])}){self.int_expr(depth + 1)}"
        if kind < 0.85:
            return f"({self.str_expr()} == {self.str_expr()})"
        if kind < 0.92:
            return f"strncmp({self.str_expr()}, {self.str_expr()}, {r.randint(0, 8)})"
        return f"sizeof({r.choice(['uint32', 'int64', 'uint8'])})"

    def str_expr(self) -> str:
        r = self.rng
        if r.random() < 0.2:
            return f"str({r.choice(['0', '$i0'])}{', ' + str(r.randint(1, 16)) if r.random() < 0.5 else ''})"
        return r.choice(self.STR_LEAVES)

    def stmt(self, depth: int, in_loop: bool) -> str:
        r = self.rng
        k = r.random()
        if depth < 3 and k < 0.08:
            other = f" else {{ {self.block(depth + 1, in_loop)} }}" if r.random() < 0.5 else ""
            return f"if ({self.int_expr()}) {{ {self.block(depth + 1, in_loop)} }}{other}"
        if depth < 2 and k < 0.12:
            return f"unroll({r.randint(1, 6)}) {{ {self.block(depth + 1, in_loop)} }}"
        if depth < 2 and k < 0.16:
            v = f"$w{depth}"
            return (f"{v} = 0; while ({v} < {r.randint(1, 20)}) {{ {v}++; "
                    f"{self.block(depth + 1, True)} }}")
        choices = [
            lambda: f"$i{r.randint(0, 1)} = {self.int_expr()}",
            lambda: "$s0 = " + r.choice(["comm", "\"xyz\"", "$s0"]),
            lambda: f"@n = {self.int_expr()}",
            lambda: f"@m[{self.int_expr()}] = {self.int_expr()}",
            lambda: f"@c[{self.str_expr()}] = count()",
            lambda: f"@h = hist({self.int_expr()})",
            lambda: f"@l = lhist({self.int_expr()}, 0, {r.choice([10, 100, 1000])}, {r.choice([1, 5, 10])})",
            lambda: f"@st = stats({self.int_expr()})",
            lambda: f"@mx = max({self.int_expr()})",
            lambda: f"@n {r.choice(['+=', '-=', '*=', '|=', '<<=', '%='])} {self.int_expr()}",
            lambda: f"@n{r.choice(['++', '--'])}",
            lambda: f'printf("{r.choice(["%d", "%u", "%x", "%5d", "%-3d", "%lld", "%c"])} '
                    f'{r.choice(["%s", "%10s", "%-4s"])}\\n", {self.int_expr()}, {self.str_expr()})',
            lambda: f"print(@{r.choice(['n', 'm'])})",
            lambda: f"print({self.int_expr()})",
            lambda: f"delete(@m[{self.int_expr()}])",
            lambda: f"{r.choice(['clear', 'zero'])}(@m)",
            lambda: f"@t = ({self.int_expr()}, {self.str_expr()})",
            lambda: "exit()",
        ]
        if in_loop:
            choices.append(lambda: r.choice(["break", "continue"]))
        return r.choice(choices)()

    def block(self, depth: int = 0, in_loop: bool = False) -> str:
        parts = []
        for _ in range(self.rng.randint(1, 4)):
            st = self.stmt(depth, in_loop)
            parts.append(st if st.endswith("}") else st + ";")
        return " ".join(parts)

    def program(self) -> str:
        r = self.rng
        head = "$i0 = 1; $i1 = 2; $s0 = \"s\"; @n = 0; @m[0] = 0;"
        probes = [f"BEGIN {{ {head} {self.block()} exit(); }}"]
        if r.random() < 0.4:
            probes.append(f"END {{ {head} {self.block()} }}")
        if r.random() < 0.3:
            pred = f" /pid {r.choice(['>', '!=', '<'])} {r.randint(0, 99)}/" if r.random() < 0.5 else ""
            probes.append(f"{r.choice(['interval:ms:50', 'tracepoint:raw_syscalls:sys_enter'])}"
                          f"{pred} {{ {head} {self.block()} }}")
        return "\n".join(probes)


def call_cases() -> list[tuple[str, str]]:
    """Every builtin function called with 0 to 3 arguments of each kind: a located error or a
    program that compiles, never a crash (wrong argument counts and types)."""
    from bpftrace_compiler.builtins import registry
    values = ["1", '"s"', "@v", "$x", "comm", "kstack", "(1, 2)", "-1", "99999999999999999999"]
    cases = []
    rng = random.Random(7)
    for name in sorted(registry.FUNCTIONS):
        for n in range(4):
            for _ in range(3 if n else 1):
                args = ", ".join(rng.choice(values) for _ in range(n))
                call = f"{name}({args})"
                for shape in (f"{call};", f"@r = {call};", f"$y = {call};"):
                    cases.append((f"{name}/{n}", f"BEGIN {{ $x = 1; @v = 2; {shape} exit(); }}"))
    return cases


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
    """Hostile programs (several crash or hang bpftrace 0.17): deep nesting, huge literals,
    widths and programs, NUL, non-UTF-8 (surrogate-escaped bytes), CRLF, odd Unicode,
    misspellings, huge positional parameters and string sizes."""
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
        ("unary-not", "BEGIN { $x = " + "!" * n + "1; }"),
        ("deref-chain", "BEGIN { $x = " + "*" * n + "0; }"),
        ("nested-while", "BEGIN { $i = 0; " + "while ($i < 1) { " * 500 + "$i++;" + " }" * 500 + " }"),
        ("nested-unroll-2", "BEGIN { " + "unroll(2) { " * 40 + "@x++;" + " }" * 40 + " }"),
        ("ternary-chain", "BEGIN { $x = " + "1 ? " * 5000 + "1" + " : 0" * 5000 + "; }"),
        ("huge-hex", "BEGIN { $x = 0x" + "f" * 5000 + "; }"),
        ("huge-precision", 'BEGIN { printf("%.999999999s|%-99999999999d\\n", "a", 1); exit(); }'),
        ("megabyte-string", 'BEGIN { printf("' + "x" * 1_000_000 + '"); }'),
        ("many-probes", " ".join(f"interval:ms:{i} {{ @x = {i}; }}" for i in range(1, 2000))),
        ("wildcard-flood", "tracepoint:*:* { @x = count(); }"),
        ("crlf", "BEGIN {\r\n  printf(\"x\\n\");\r\n  exit();\r\n}\r\n"),
        ("non-utf8", "BEGIN { printf(\"\udcff\udcfe\"); \udcff }"),    # raw bytes ff fe
        ("rtl-override", "BEGIN { $x\u202e = 1; }"),
        ("combining", "BEGIN { @x\u0301 = 1; }"),
        ("emoji-string", 'BEGIN { printf("\U0001f600 %s\\n", "\u00e9"); exit(); }'),
        ("bom", "\ufeffBEGIN { exit(); }"),
        ("misspelled-probe", "tracepiont:syscalls:sys_enter_openat { }"),
        ("misspelled-builtin", "BEGIN { printf(\"%d\\n\", pdi); }"),
        ("misspelled-function", "BEGIN { prnitf(\"x\"); }"),
        ("huge-positional", "BEGIN { $x = $999999999999; }"),
        ("huge-str-size", "BEGIN { @x = str(0, 1000000); }"),
        ("only-comment", "/* " + "x" * 100000),
        ("unterminated-string", 'BEGIN { printf("abc'),
        ("empty", ""),
    ]


def programs(seed: int, count: int) -> Iterator[tuple[str, str]]:
    """Generated, typed, mutated-corpus and mutated-typed programs, in turn."""
    rng = random.Random(seed)
    gen = ProgramGenerator(rng)
    typed = TypedProgramGenerator(rng)
    for i in range(count):
        kind = i % 4
        if kind == 0:
            yield f"seed={seed} #{i} generated", gen.program()
        elif kind == 1:
            yield f"seed={seed} #{i} typed", typed.program()
        elif kind == 2:
            yield f"seed={seed} #{i} mutated", mutate(rng, rng.choice(CORPUS))
        else:
            yield f"seed={seed} #{i} mutated-typed", mutate(rng, typed.program())
