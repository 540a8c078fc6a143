"""ELF parsing and ld_imm64 relocation patching on objects emitted by llvmlite."""
import struct

import pytest

from bpftrace_loader.elf import parse_elf, relocate
from bpftrace_loader.errors import LoadError
from bpftrace_loader.uapi import BPF_LD_IMM64, BPF_PSEUDO_MAP_FD, BPF_PSEUDO_MAP_VALUE

from bpfprog import EVENTS, LOST, emit, emit_record, function, module

GLOBALS = """
@counter = global i64 5, align 8
@table = global [4 x i64] [i64 1, i64 2, i64 3, i64 4], align 8
"""

DATA_BODY = """  %p = getelementptr [4 x i64], ptr @table, i64 0, i64 2
  store volatile i64 9, ptr %p
  store volatile i64 1, ptr @counter"""


def ld_imm64s(code: bytes):
    """(byte offset, src_reg, imm, imm of the second half) of every ld_imm64."""
    out = []
    for off in range(0, len(code), 8):
        if code[off] == BPF_LD_IMM64:
            imm, = struct.unpack_from("<i", code, off + 4)
            imm2, = struct.unpack_from("<i", code, off + 12)
            out.append((off, code[off + 1] >> 4, imm, imm2))
    return out


@pytest.fixture(scope="module")
def obj():
    ir_text = module([function("s_BEGIN_1", emit_record([0, 1])),
                      function("s_data", DATA_BODY)], [EVENTS, LOST], GLOBALS)
    return parse_elf(emit(ir_text))


def test_sections_and_license(obj):
    assert set(obj.programs) == {"s_BEGIN_1", "s_data"}
    assert obj.license == "GPL"
    assert obj.functions["fn_s_BEGIN_1"] == "s_BEGIN_1"
    assert obj.section_of("fn_s_data") == "s_data"
    assert ".data" in obj.data_sections and not obj.data_sections[".data"].readonly


def test_map_relocation_sets_pseudo_map_fd(obj):
    rels = obj.relocations["s_BEGIN_1"]
    assert [r.symbol.name for r in rels] == ["__bt_events"]
    code = relocate(obj, "s_BEGIN_1", {"__bt_events": 42}, {})
    patched = [x for x in ld_imm64s(code) if x[0] == rels[0].offset]
    assert patched == [(rels[0].offset, BPF_PSEUDO_MAP_FD, 42, 0)]
    # nothing else changed
    raw = obj.programs["s_BEGIN_1"]
    assert len(code) == len(raw)
    assert code[:rels[0].offset + 1] == raw[:rels[0].offset + 1]
    assert code[rels[0].offset + 16:] == raw[rels[0].offset + 16:]


def test_global_data_relocation_uses_map_value_with_offset(obj):
    code = relocate(obj, "s_data", {}, {".data": 7})
    loads = ld_imm64s(code)
    assert loads and all(src == BPF_PSEUDO_MAP_VALUE and imm == 7 for _, src, imm, _ in loads)
    data = obj.data_sections[".data"].data
    offsets = sorted(off for *_, off in loads)
    assert offsets == sorted(r.symbol.value for r in obj.relocations["s_data"])
    # the offsets point at `counter` (5) and `table` (1, 2, 3, 4) inside .data
    values = sorted(struct.unpack_from("<q", data, off)[0] for off in offsets)
    assert values == [1, 5]


def test_unknown_symbol_is_a_clear_error(obj):
    with pytest.raises(LoadError, match="unknown map or global '__bt_events'"):
        relocate(obj, "s_BEGIN_1", {}, {})


def test_not_an_elf_object():
    with pytest.raises(LoadError, match="not a little-endian ELF64"):
        parse_elf(b"hello world" * 10)
