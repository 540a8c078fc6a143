"""Hand-made BPF programs for the loader tests: LLVM IR text -> BPF ELF via llvmlite.

Each map is a global in section "maps" named after its MapSpec.elf_symbol, as the compiler
emits them; helpers are called through `inttoptr (i64 <id>)`.
"""
from __future__ import annotations

import functools

from bpftrace_compiler.artifact import (ActionSpec, AttachTarget, CompiledProgram, MapSpec,
                                        ProbeSpec)
from bpftrace_compiler.types import Kind, SizedType

# BPF helper ids (include/uapi/linux/bpf.h)
MAP_LOOKUP_ELEM, MAP_UPDATE_ELEM, GET_CURRENT_PID_TGID, RINGBUF_OUTPUT = 1, 2, 14, 130

EVENTS = MapSpec("events", "ringbuf", 0, 0, 1 << 16, internal=True, role="events",
                 symbol="__bt_events")
LOST = MapSpec("lost", "percpu_array", 4, 8, 1, internal=True, role="lost", symbol="__bt_lost")


@functools.lru_cache(maxsize=1)
def _target_machine():
    import llvmlite.binding as llvm
    llvm.initialize_all_targets()
    llvm.initialize_all_asmprinters()
    return llvm.Target.from_triple("bpfel-unknown-none").create_target_machine(cpu="v3", opt=2)


def emit(ir_text: str) -> bytes:
    import llvmlite.binding as llvm
    mod = llvm.parse_assembly(ir_text)
    mod.verify()
    return _target_machine().emit_object(mod)


def module(functions: list[str], maps: list[MapSpec], extra: str = "") -> str:
    globs = "\n".join(f'@"{m.elf_symbol}" = global i64 0, section "maps", align 8' for m in maps)
    return (f'target triple = "bpfel-unknown-none"\n'
            f'@_license = global [4 x i8] c"GPL\\00", section "license"\n{globs}\n{extra}\n'
            + "\n".join(functions) + "\nattributes #0 = { nounwind }\n")


def function(section: str, body: str) -> str:
    """A probe function; every alloca in `body` is hoisted into the entry block (an alloca
    elsewhere is a fatal LLVM error for BPF)."""
    lines = body.splitlines()
    allocas = [ln for ln in lines if "= alloca" in ln]
    rest = [ln for ln in lines if "= alloca" not in ln]
    text = "\n".join(allocas + rest)
    return f'define i64 @"fn_{section}"(ptr %ctx) #0 section "{section}" {{\n{text}\n  ret i64 0\n}}'


def emit_record(values: list[int], name: str = "rec") -> str:
    """IR that sends a record of u64 words on the events ring buffer."""
    n = len(values)
    lines = [f"  %{name} = alloca [{n} x i64], align 8"]
    for i, v in enumerate(values):
        lines.append(f"  %{name}.p{i} = getelementptr [{n} x i64], ptr %{name}, i64 0, i64 {i}")
        lines.append(f"  store i64 {v}, ptr %{name}.p{i}")
    lines.append(f"  %{name}.f = inttoptr i64 {RINGBUF_OUTPUT} to ptr")
    lines.append(f"  %{name}.r = call i64 %{name}.f(ptr @__bt_events, ptr %{name}, "
                 f"i64 {8 * n}, i64 0)")
    return "\n".join(lines)


def count_into(map_symbol: str, key_expr: str = "0", name: str = "c") -> str:
    """IR for `@m[key] = count()` on a (per-CPU) hash with a u64 key: lookup, add or insert."""
    return f"""  %{name}.k = alloca i64, align 8
  %{name}.one = alloca i64, align 8
  store i64 {key_expr}, ptr %{name}.k
  %{name}.look = inttoptr i64 {MAP_LOOKUP_ELEM} to ptr
  %{name}.v = call ptr %{name}.look(ptr @"{map_symbol}", ptr %{name}.k)
  %{name}.isnull = icmp eq ptr %{name}.v, null
  br i1 %{name}.isnull, label %{name}.ins, label %{name}.add
{name}.add:
  %{name}.old = load i64, ptr %{name}.v
  %{name}.new = add i64 %{name}.old, 1
  store i64 %{name}.new, ptr %{name}.v
  br label %{name}.done
{name}.ins:
  store i64 1, ptr %{name}.one
  %{name}.upd = inttoptr i64 {MAP_UPDATE_ELEM} to ptr
  %{name}.r = call i64 %{name}.upd(ptr @"{map_symbol}", ptr %{name}.k, ptr %{name}.one, i64 0)
  br label %{name}.done
{name}.done:"""


def printf_action(aid: int, fmt: str, args=(), offsets=(), size=8) -> ActionSpec:
    return ActionSpec(aid, "printf", fmt=fmt, args=tuple(args), offsets=tuple(offsets),
                      record_size=size)


def probe(section: str, prog_type: str, *targets: AttachTarget, index: int = 0) -> ProbeSpec:
    return ProbeSpec(section=section, prog_type=prog_type, targets=tuple(targets), index=index)


def begin(section: str = "s_BEGIN_1") -> ProbeSpec:
    return probe(section, "raw_tracepoint", AttachTarget("BEGIN", name="BEGIN"))


def end(section: str = "s_END_1") -> ProbeSpec:
    return probe(section, "raw_tracepoint", AttachTarget("END", name="END"))


def program(functions: list[str], probes: list[ProbeSpec], maps: list[MapSpec],
            actions: list[ActionSpec] = (), extra_ir: str = "", **kw) -> CompiledProgram:
    ir_text = module(functions, maps, extra_ir)
    return CompiledProgram(elf=emit(ir_text), probes=tuple(probes), maps=tuple(maps),
                           actions=tuple(actions), ir=ir_text, **kw)


COUNT = SizedType(Kind.COUNT, 8)


def emit_records_counting_lost(values: list[int], times: int) -> str:
    """Send one record `times` times; each failed ring buffer write increments the per-CPU
    lost counter (what the compiler's generated code does)."""
    text = emit_record(values, "rec")
    for i in range(times):
        text += f"""
  %w{i}.f = inttoptr i64 {RINGBUF_OUTPUT} to ptr
  %w{i}.r = call i64 %w{i}.f(ptr @__bt_events, ptr %rec, i64 {8 * len(values)}, i64 0)
""" + _count_lost(f"w{i}")
    return text


def _count_lost(name: str) -> str:
    return f"""
  %{name}.lk = alloca i32, align 4
  store i32 0, ptr %{name}.lk
  %{name}.failed = icmp ne i64 %{name}.r, 0
  br i1 %{name}.failed, label %{name}.lost, label %{name}.ok
{name}.lost:
  %{name}.look = inttoptr i64 {MAP_LOOKUP_ELEM} to ptr
  %{name}.slot = call ptr %{name}.look(ptr @__bt_lost, ptr %{name}.lk)
  %{name}.null = icmp eq ptr %{name}.slot, null
  br i1 %{name}.null, label %{name}.ok, label %{name}.inc
{name}.inc:
  %{name}.old = atomicrmw add ptr %{name}.slot, i64 1 monotonic
  br label %{name}.ok
{name}.ok:"""
