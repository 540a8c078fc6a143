"""BTF reader: kernel types checked against bpftool's raw dump, plus synthetic blobs that
exercise every BTF kind (enum64, signed enums, bitfields, variadic protos, decl tags)."""
from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import time

import pytest

from bpftrace_compiler import btf as B
from bpftrace_compiler import types as T

HAVE_VMLINUX = os.path.exists(B.VMLINUX)
needs_vmlinux = pytest.mark.skipif(not HAVE_VMLINUX, reason="no /sys/kernel/btf/vmlinux")


@pytest.fixture(scope="module")
def vmlinux():
    return B.load_vmlinux_btf()


@pytest.fixture(scope="module")
def bpftool_raw():
    if not shutil.which("bpftool") or not HAVE_VMLINUX:
        pytest.skip("bpftool is not installed")
    out = subprocess.run(["bpftool", "btf", "dump", "file", B.VMLINUX, "format", "raw"],
                         capture_output=True, text=True, timeout=30, check=True).stdout
    return out


def _bpftool_members(raw: str, struct_name: str) -> dict[str, tuple[int, int]]:
    m = re.search(rf"^\[\d+\] STRUCT '{struct_name}' size=\d+ vlen=\d+\n((?:\t.*\n)*)", raw, re.M)
    out = {}
    for line in m.group(1).splitlines():
        mm = re.match(r"\t'([^']*)' type_id=\d+ bits_offset=(\d+)(?: bitfield_size=(\d+))?", line)
        out[mm.group(1)] = (int(mm.group(2)), int(mm.group(3) or 0))
    return out


@needs_vmlinux
def test_task_struct_offsets_match_bpftool(vmlinux, bpftool_raw):
    expected = _bpftool_members(bpftool_raw, "task_struct")
    ours = {name: (bit, size) for name, _t, bit, size in vmlinux.struct_members("struct task_struct")}
    for field in ("pid", "tgid", "comm", "parent", "real_parent", "sched_reset_on_fork"):
        assert ours[field] == expected[field], field
    assert vmlinux.field_offset("struct task_struct", "pid") == expected["pid"][0] // 8
    assert vmlinux.field_offset("task_struct", "parent") == expected["parent"][0] // 8
    assert vmlinux.sizeof("struct task_struct") == int(
        re.search(r"STRUCT 'task_struct' size=(\d+)", bpftool_raw).group(1))


@needs_vmlinux
def test_task_struct_as_record(vmlinux):
    rec = vmlinux.record_type("struct task_struct")
    assert rec.kind == T.Kind.RECORD and rec.name == "struct task_struct"
    fields = {f.name: f for f in rec.fields}
    assert fields["comm"].type == T.Str(16)
    assert fields["pid"].type == T.Int(32)
    assert str(fields["parent"].type) == "struct task_struct *"
    assert fields["parent"].type.elems[0].kind == T.Kind.RECORD      # shallow pointee
    bit = fields["sched_reset_on_fork"]
    assert bit.bitfield is not None and bit.bitfield[1] == 1
    assert bit.offset * 8 + bit.bitfield[0] == dict(
        (n, b) for n, _t, b, _s in vmlinux.struct_members("task_struct"))["sched_reset_on_fork"]
    assert fields["pid"].offset == vmlinux.field_offset("struct task_struct", "pid")


@needs_vmlinux
def test_nested_path_and_anonymous_members(vmlinux):
    # thread_info is embedded first; sk_buff's next/prev live in an anonymous union/struct
    assert vmlinux.field_offset("struct task_struct", "thread_info.flags") == \
        vmlinux.field_offset("struct thread_info", "flags")
    names = [m[0] for m in vmlinux.struct_members("struct sk_buff")]
    assert "next" in names and "sk" in names and "" not in names
    with pytest.raises(B.BtfError, match="does not contain a field named 'nope'"):
        vmlinux.field_offset("struct task_struct", "nope")


@needs_vmlinux
def test_enum_values(vmlinux, bpftool_raw):
    vals = vmlinux.enum_values("enum pid_type")
    block = re.search(r"ENUM 'pid_type' [^\n]*\n((?:\t.*\n)*)", bpftool_raw).group(1)
    expected = {n: int(v) for n, v in re.findall(r"'(\w+)' val=(-?\d+)", block)}
    assert vals == expected and vals["PIDTYPE_TGID"] == 1
    assert vmlinux.enum_constant("PIDTYPE_TGID") == (1, vmlinux.find("enum pid_type"))
    assert vmlinux.enum_constant("TASK_COMM_LEN")[0] == 16        # an anonymous enum
    assert vmlinux.enum_constant("NOT_AN_ENUMERATOR_XYZ") is None


@needs_vmlinux
def test_vfs_read_proto(vmlinux):
    proto = vmlinux.func_proto("vfs_read")
    assert [p.name for p in proto.params] == ["file", "buf", "count", "pos"]
    assert [vmlinux.type_to_c(p.type_id) for p in proto.params] == \
        ["struct file *", "char *", "size_t", "loff_t *"]
    assert vmlinux.type_to_c(proto.return_type) == "ssize_t"
    assert vmlinux.to_sized_type(proto.params[2].type_id) == T.UInt(64)
    with pytest.raises(B.BtfError):
        vmlinux.func_proto("no_such_function_xyz")


@needs_vmlinux
def test_sched_switch_raw_tracepoint_args(vmlinux):
    target = vmlinux.typedef_target("btf_trace_sched_switch")
    assert vmlinux.type_to_c(target) == \
        "void (*)(void *, bool, struct task_struct *, struct task_struct *, unsigned int)"
    args = vmlinux.tracepoint_args("sched_switch")
    assert [p.name for p in args.params] == ["preempt", "prev", "next", "prev_state"]
    assert vmlinux.type_to_c(args.params[1].type_id) == "struct task_struct *"


@needs_vmlinux
def test_load_is_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    t0 = time.perf_counter()
    cold = B.load_btf(B.VMLINUX)
    t1 = time.perf_counter()
    warm = B.load_btf(B.VMLINUX)
    t2 = time.perf_counter()
    assert list((tmp_path / "bpftrace_kernel").glob("btf-*.pickle"))
    assert warm.find("struct task_struct") == cold.find("struct task_struct")
    assert t2 - t1 < t1 - t0
    assert B.load_vmlinux_btf() is B.load_vmlinux_btf()


# ---- synthetic BTF covering every kind

class _Builder:
    def __init__(self):
        self.strings = b"\0"
        self.types = b""
        self.next_id = 1

    def s(self, name: str) -> int:
        if not name:
            return 0
        off = len(self.strings)
        self.strings += name.encode() + b"\0"
        return off

    def add(self, kind, name="", vlen=0, flag=False, st=0, extra=b"") -> int:
        info = (int(flag) << 31) | (kind << 24) | vlen
        self.types += struct.pack("<III", self.s(name), info, st) + extra
        self.next_id += 1
        return self.next_id - 1

    def blob(self) -> bytes:
        hdr = struct.pack("<HBBIIIII", B.BTF_MAGIC, 1, 0, 24, 0, len(self.types),
                          len(self.types), len(self.strings))
        return hdr + self.types + self.strings


@pytest.fixture(scope="module")
def synth():
    b = _Builder()
    ids = {}
    ids["int"] = b.add(B.INT, "int", st=4, extra=struct.pack("<I", (1 << 24) | 32))
    ids["uchar"] = b.add(B.INT, "unsigned char", st=1, extra=struct.pack("<I", 8))
    ids["char"] = b.add(B.INT, "char", st=1, extra=struct.pack("<I", (2 << 24) | 8))
    ids["const_char"] = b.add(B.CONST, st=ids["char"])
    ids["pcc"] = b.add(B.PTR, st=ids["const_char"])
    ids["arr"] = b.add(B.ARRAY, extra=struct.pack("<III", ids["char"], ids["int"], 8))
    ids["iarr"] = b.add(B.ARRAY, extra=struct.pack("<III", ids["int"], ids["int"], 3))
    # struct s { int a; unsigned char f1:3, f2:5; char name[8]; union { int u1; int u2; }; }
    ids["anon_union"] = b.add(B.UNION, vlen=2, st=4, extra=struct.pack(
        "<IIIIII", b.s("u1"), ids["int"], 0, b.s("u2"), ids["int"], 0))
    ids["s"] = b.add(B.STRUCT, "s", vlen=5, flag=True, st=20, extra=struct.pack(
        "<" + "III" * 5,
        b.s("a"), ids["int"], 0,
        b.s("f1"), ids["uchar"], (3 << 24) | 32,
        b.s("f2"), ids["uchar"], (5 << 24) | 35,
        b.s("name"), ids["arr"], 40,
        0, ids["anon_union"], 128))
    ids["ps"] = b.add(B.PTR, st=ids["s"])
    ids["td"] = b.add(B.TYPEDEF, "s_t", st=ids["s"])
    ids["vol"] = b.add(B.VOLATILE, st=ids["td"])
    ids["e"] = b.add(B.ENUM, "color", vlen=2, flag=True, st=4, extra=struct.pack(
        "<IiIi", b.s("RED"), -1, b.s("BLUE"), 7))
    ids["e64"] = b.add(B.ENUM64, "big", vlen=1, st=8, extra=struct.pack(
        "<III", b.s("HUGE"), 0, 0x80000000))
    ids["proto"] = b.add(B.FUNC_PROTO, vlen=3, st=ids["int"], extra=struct.pack(
        "<IIIIII", b.s("p"), ids["ps"], b.s("fmt"), ids["pcc"], 0, 0))
    ids["func"] = b.add(B.FUNC, "myprintf", vlen=1, st=ids["proto"])
    ids["fptr"] = b.add(B.PTR, st=ids["proto"])
    ids["fwd"] = b.add(B.FWD, "opaque", flag=True)
    ids["float"] = b.add(B.FLOAT, "double", st=8)
    ids["var"] = b.add(B.VAR, "counter", st=ids["int"], extra=struct.pack("<I", 1))
    ids["sec"] = b.add(B.DATASEC, ".bss", vlen=1, st=4, extra=struct.pack("<III", ids["var"], 0, 4))
    ids["tag"] = b.add(B.DECL_TAG, "user", st=ids["s"], extra=struct.pack("<i", 1))
    ids["ttag"] = b.add(B.TYPE_TAG, "percpu", st=ids["int"])
    ids["parr"] = b.add(B.PTR, st=ids["iarr"])
    ids["packed"] = b.add(B.STRUCT, "p", vlen=2, st=5, extra=struct.pack(
        "<IIIIII", b.s("c"), ids["char"], 0, b.s("i"), ids["int"], 8))
    ids["noargs"] = b.add(B.FUNC_PROTO, vlen=1, st=ids["pcc"], extra=struct.pack("<II", 0, 0))
    ids["pnoargs"] = b.add(B.PTR, st=ids["noargs"])
    return B.Btf(b.blob()), ids


def test_synthetic_kinds(synth):
    btf, ids = synth
    assert len(btf) == max(ids.values()) + 1
    assert btf.find("s_t") == ids["td"] and btf.find("struct s") == ids["s"]
    assert btf.resolve(ids["vol"]) == ids["s"]
    assert btf.struct_members("s_t") == [
        ("a", ids["int"], 0, 0), ("f1", ids["uchar"], 32, 3), ("f2", ids["uchar"], 35, 5),
        ("name", ids["arr"], 40, 0), ("u1", ids["int"], 128, 0), ("u2", ids["int"], 128, 0)]
    assert btf.field_offset("struct s", "u2") == 16
    assert btf.enum_values("enum color") == {"RED": -1, "BLUE": 7}
    assert btf.enum_values("big") == {"HUGE": 1 << 63}
    proto = btf.func_proto("myprintf")
    assert proto.variadic and [p.name for p in proto.params] == ["p", "fmt"]
    assert btf.type_to_c(ids["func"]) == "int myprintf(struct s *, const char *, ...)"
    assert btf.type_to_c(ids["fptr"]) == "int (*)(struct s *, const char *, ...)"
    assert btf.type_to_c(ids["parr"]) == "int (*)[3]"
    assert btf.type_to_c(ids["vol"]) == "volatile s_t"
    assert btf.type_to_c(ids["fwd"]) == "union opaque"
    assert btf.datasec_vars(ids["sec"]) == [(ids["var"], 0, 4)]
    assert btf.decl_tag(ids["tag"]) == (ids["s"], 1)
    assert btf.resolve(ids["ttag"]) == ids["int"]
    assert btf.sizeof(ids["iarr"]) == 12 and btf.sizeof(ids["fptr"]) == 8


def test_synthetic_sized_types(synth):
    btf, ids = synth
    rec = btf.to_sized_type(ids["td"])
    f = {x.name: x for x in rec.fields}
    assert rec.size == 20 and rec.name == "struct s"
    assert f["f2"].offset == 4 and f["f2"].bitfield == (3, 5) and f["f2"].type == T.UInt(8)
    assert f["name"].type == T.Str(8)
    assert f["u1"].offset == 16
    assert btf.to_sized_type(ids["iarr"]) == T.SizedType(T.Kind.ARRAY, 12, elems=(T.Int(32),))
    assert btf.to_sized_type(ids["e"]) == T.Int(32)
    assert str(btf.to_sized_type(ids["pcc"])) == "const char *"
    ptr = btf.to_sized_type(ids["ps"])
    assert ptr.kind == T.Kind.POINTER and ptr.elems[0].fields == ()
    assert btf.pointer_target(ids["ps"]) == ids["s"]


def test_bad_blob():
    with pytest.raises(B.BtfError, match="not a BTF blob"):
        B.Btf(b"\0" * 24)
    with pytest.raises(B.BtfError, match="cannot read BTF"):
        B.load_btf("/nonexistent/btf")


@needs_vmlinux
def test_kfunc_listing_and_type_names(vmlinux):
    assert vmlinux.func_listing("vfs_read") == \
        ["struct file * file", "char * buf", "size_t count", "loff_t * pos", "ssize_t retval"]
    assert vmlinux.func_listing("schedule") == []            # void(void)
    ptr = vmlinux.parse_type("struct task_struct *")
    assert ptr.kind == T.Kind.POINTER and str(ptr) == "struct task_struct *"
    assert vmlinux.parse_type("u64") == T.UInt(64)
    assert vmlinux.parse_type("pid_t") == T.Int(32)
    assert vmlinux.parse_type("unsigned int") == T.UInt(32)
    with pytest.raises(B.BtfError, match="Unknown type: struct nope_zz"):
        vmlinux.parse_type("struct nope_zz")


def test_truncated_synthetic_blob(synth):
    btf, _ids = synth
    with pytest.raises(B.BtfError, match="truncated"):
        B.Btf(btf.data[:-5])


def _lv_blocks(pattern: str) -> list[str]:
    out = subprocess.run(["bpftrace", "-lv", pattern], capture_output=True, text=True,
                         timeout=60).stdout
    return [blk.strip("\n") for blk in out.split("\n\n") if "{" in blk]


@needs_vmlinux
@pytest.mark.bpftrace
@pytest.mark.parametrize("pattern", ["struct s*", "struct task_struct", "struct acpi_dma",
                                     "struct vm_fault"])
def test_struct_definitions_match_bpftrace_lv(vmlinux, pattern):
    """`bpftrace -lv 'struct ...'` text (libbpf btf_dump) reproduced byte for byte: padding
    members, bitfields, inline anonymous members, function pointers, ___N duplicate names."""
    blocks = _lv_blocks(pattern)
    assert blocks, f"bpftrace printed no definitions for {pattern}"
    for blk in blocks:
        kind, name = blk.split(" {", 1)[0].split(" ", 1)
        base = re.sub(r"___\d+$", "", name)
        ids = [t for t in vmlinux.find_all(base) if vmlinux.type(t).kind_name == kind
               and vmlinux._dump_name(t) == name]
        assert ids, name
        assert vmlinux.c_definition(ids[0]) == blk + "\n"


def test_synthetic_c_definitions(synth):
    btf, ids = synth
    assert btf.c_definition("struct s") == (
        "struct s {\n\tint a;\n\tunsigned char f1: 3;\n\tunsigned char f2: 5;\n"
        "\tchar name[8];\n\tunion {\n\t\tint u1;\n\t\tint u2;\n\t};\n};\n")
    assert btf.c_definition("struct p") == \
        "struct p {\n\tchar c;\n\tint i;\n} __attribute__((packed));\n"
    assert btf.c_definition("enum color") == "enum color {\n\tRED = -1,\n\tBLUE = 7,\n};\n"
    # a lone void parameter means "no arguments"; a pointer return keeps btf_dump's space
    assert btf.type_to_c(ids["pnoargs"], "get") == "const char * (*get)()"
