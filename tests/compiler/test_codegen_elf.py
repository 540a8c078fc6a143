"""Generated BPF objects: sections, map relocations, helper calls and map specs (no root)."""
import struct

import pytest
from elftools.elf.elffile import ELFFile
from elftools.elf.relocation import RelocationSection
import io

from bpftrace_compiler.pipeline import CompileOptions, compile_source
from bpftrace_compiler.tracepoints import StaticKernelInfo

FORMAT = """name: x
format:
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
\tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;
\tfield:const char * filename;\toffset:16;\tsize:8;\tsigned:0;
\tfield:long ret;\toffset:24;\tsize:8;\tsigned:1;
"""
KERNEL = StaticKernelInfo({f"syscalls:sys_enter_{n}": FORMAT for n in ("openat", "open", "read")})
BPF_CALL = 0x85


def build(src, **opts):
    return compile_source(src, params=("7", "hello"), options=CompileOptions(kernel=KERNEL, **opts))


def elf_of(prog):
    return ELFFile(io.BytesIO(prog.elf))


def program_insns(prog, probe):
    elf = elf_of(prog)
    sym = next(s for sec in elf.iter_sections() if sec.name == ".symtab"
               for s in sec.iter_symbols() if s.name == probe.section)
    data = elf.get_section(sym["st_shndx"]).data()
    return [struct.unpack_from("<BBhi", data, off) for off in range(0, len(data), 8)]


def helper_calls(prog, probe):
    return [imm for code, regs, off, imm in program_insns(prog, probe) if code == BPF_CALL]


def relocated_symbols(prog):
    elf = elf_of(prog)
    symtab = elf.get_section_by_name(".symtab")
    out = set()
    for sec in elf.iter_sections():
        if isinstance(sec, RelocationSection):
            assert sec.name.startswith(".rel") and not sec.name.startswith(".rela")
            out.update(symtab.get_symbol(r["r_info_sym"]).name for r in sec.iter_relocations())
    return out


def test_bpf_elf_with_license_and_one_program_per_probe():
    prog = build('BEGIN { printf("hi\\n"); } END { exit(); }')
    elf = elf_of(prog)
    assert elf["e_machine"] == "EM_BPF"
    assert elf.get_section_by_name("license").data().startswith(b"GPL\0")
    assert [p.prog_type for p in prog.probes] == ["raw_tracepoint", "raw_tracepoint"]
    assert len({p.section for p in prog.probes}) == 2
    assert not any(s.name == ".eh_frame" for s in elf.iter_sections())


def test_count_looks_up_then_updates_on_miss_per_cpu():
    prog = build("tracepoint:syscalls:sys_enter_openat { @[comm, pid] = count(); }")
    m = prog.map("@")
    assert m.map_type == "percpu_hash" and m.value_size == 8
    assert m.key_type.kind.value == "tuple" and m.key_size == 24   # string[16] + u64
    calls = helper_calls(prog, prog.probes[0])
    assert 1 in calls and 2 in calls and 16 in calls             # lookup, update, comm
    assert {"AT_"} <= relocated_symbols(prog)


def test_printf_record_layout_and_ringbuf_output():
    prog = build('BEGIN { printf("%s %d %s\\n", comm, 5, str($2)); }')
    (action,) = prog.actions
    assert action.offsets == (8, 24, 32) and action.record_size == 40
    assert 130 in helper_calls(prog, prog.probes[0])              # bpf_ringbuf_output
    assert {"__bt_events", "__bt_lost"} <= relocated_symbols(prog)
    assert prog.internal_map("events").map_type == "ringbuf"
    assert prog.internal_map("lost").map_type == "percpu_array"


def test_hist_and_lhist_keys_carry_a_bucket():
    prog = build("BEGIN { @h[1] = hist(5); @l = lhist(3, 0, 100, 10); }")
    h, l = prog.map("@h"), prog.map("@l")
    assert h.bucketed and h.key_size == 16
    assert l.bucketed and l.key_size == 8 and l.value_type.params == (0, 100, 10)


def test_wildcards_share_one_program_unless_probe_is_used():
    shared = build("tracepoint:syscalls:sys_enter_open* { @ = count(); }")
    assert len(shared.probes) == 1 and shared.attach_count == 2
    split = build("tracepoint:syscalls:sys_enter_open* { @[args->ret] = count(); }")
    assert len(split.probes) == 2
    assert all(p.attach_via is None and p.prog_type == "tracepoint" for p in split.probes)


def test_syscall_wildcard_with_probe_is_one_raw_syscalls_program():
    prog = build("tracepoint:syscalls:sys_enter_open* { @[probe] = count(); }")
    (probe,) = prog.probes
    assert prog.attach_count == 2
    assert probe.prog_type == "raw_tracepoint"
    assert (probe.attach_via.target, probe.attach_via.func) == ("raw_syscalls", "sys_enter")
    assert sorted(prog.probe_names) == ["tracepoint:syscalls:sys_enter_open",
                                        "tracepoint:syscalls:sys_enter_openat"]
    single = build("tracepoint:syscalls:sys_enter_openat { @[probe] = count(); }")
    assert single.probes[0].attach_via is None and single.probes[0].prog_type == "tracepoint"


def test_syscall_string_argument_is_read_from_user_memory():
    prog = build('tracepoint:syscalls:sys_enter_openat { printf("%s\\n", str(args->filename)); }')
    assert 114 in helper_calls(prog, prog.probes[0])              # probe_read_user_str


def test_pid_option_filters_every_probe():
    prog = build("tracepoint:syscalls:sys_enter_read { @ = count(); }", pid=1234)
    insns = program_insns(prog, prog.probes[0])
    assert any(imm == 1234 for code, regs, off, imm in insns)
    assert 14 in helper_calls(prog, prog.probes[0])


def test_stack_limit_is_a_located_error_not_an_llvm_crash():
    from bpftrace_compiler.diagnostics import CompileError
    src = "BEGIN { " + " ".join(f'$s{i} = str(curtask);' for i in range(6)) + " }"
    with pytest.raises(CompileError) as info:
        build(src, strlen=200)
    assert "BPF stack limit of 512 bytes is exceeded" in str(info.value)


def test_ir_is_kept_for_dump():
    prog = build("BEGIN { @x = $1 + 1; }")
    assert 'target triple = "bpfel-unknown-none"' in prog.ir
    assert "s_BEGIN_1" in prog.ir
