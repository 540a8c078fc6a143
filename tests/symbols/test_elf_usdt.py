"""ELF symbols, library resolution and USDT notes, checked against nm/readelf on programs
built at test time."""
from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from bpftrace_compiler import elf_symbols as E
from bpftrace_compiler import libraries as L
from bpftrace_compiler import usdt_notes as U


def _nm(path) -> dict[str, tuple[int, int, str]]:
    if not shutil.which("nm"):
        pytest.skip("binutils nm is not installed")
    out = subprocess.run(["nm", "-S", "--defined-only", str(path)], capture_output=True,
                         text=True, timeout=30, check=True).stdout
    syms = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 4:
            syms[parts[3]] = (int(parts[0], 16), int(parts[1], 16), parts[2])
    return syms


def _load_segments(path) -> list[tuple[int, int, int]]:
    out = subprocess.run(["readelf", "-lW", str(path)], capture_output=True, text=True,
                         timeout=30, check=True).stdout
    return [(int(o, 16), int(v, 16), int(m, 16)) for o, v, m in
            re.findall(r"^\s+LOAD\s+(0x\w+) (0x\w+) 0x\w+ 0x\w+ (0x\w+)", out, re.M)]


@pytest.mark.parametrize("kind", ["pie", "nopie"])
def test_functions_and_data_match_nm(plain_binaries, kind):
    path = plain_binaries[kind]
    elf = E.load_elf(str(path))
    nm = _nm(path)
    for name in ("main", "leaf_function", "middle_function"):
        sym = elf.find(name)
        assert sym is not None and sym.is_function
        assert (sym.address, sym.size) == nm[name][:2]
    for name in ("global_counter", "static_table"):
        sym = elf.find(name)
        assert sym.is_data and (sym.address, sym.size) == nm[name][:2]
    assert elf.is_pie == (kind == "pie")
    assert elf.is_shared == (kind == "pie")
    assert [s.name for s in elf.match_functions("*_function")] == ["leaf_function",
                                                                     "middle_function"]
    assert [s.name for s in elf.match_data("global_*")] == ["global_counter"]
    leaf = elf.find("leaf_function")
    assert elf.function_at(leaf.address + 1) == leaf
    assert elf.function_at(0) is None


@pytest.mark.parametrize("kind", ["pie", "nopie"])
def test_address_to_file_offset_uses_load_segment(plain_binaries, kind):
    path = plain_binaries[kind]
    elf = E.load_elf(str(path))
    addr = elf.find("main").address
    seg = next((o, v) for o, v, m in _load_segments(path) if v <= addr < v + m)
    assert elf.address_to_file_offset(addr) == addr - seg[1] + seg[0]
    assert elf.file_offset_to_address(elf.address_to_file_offset(addr)) == addr
    with pytest.raises(E.ElfError, match="no loadable segment"):
        elf.address_to_file_offset(0xFFFF_FFFF_0000)


def test_libc_dynsym_and_build_id():
    libc = L.resolve_library("libc")
    assert libc and os.path.exists(libc)
    elf = E.load_elf(libc)
    malloc = elf.find("malloc")
    assert malloc.is_function and malloc.size > 0
    nm_d = subprocess.run(["nm", "-D", "--defined-only", libc], capture_output=True, text=True,
                          timeout=30).stdout
    assert re.search(rf"^0*{malloc.address:x} [TWi] malloc@", nm_d, re.M)
    rd = subprocess.run(["readelf", "-n", libc], capture_output=True, text=True, timeout=30).stdout
    m = re.search(r"Build ID: ([0-9a-f]+)", rd)
    if m:
        assert elf.build_id == m.group(1)


def test_not_elf(tmp_path):
    f = tmp_path / "x.txt"
    f.write_text("hello")
    with pytest.raises(E.ElfError, match="not an ELF file"):
        E.load_elf(str(f))
    with pytest.raises(E.ElfError, match="No such file"):
        E.load_elf(str(tmp_path / "missing"))


# ---- library and binary resolution

def test_resolve_binary_via_path(plain_binaries, monkeypatch):
    path = plain_binaries["pie"]
    monkeypatch.setenv("PATH", f"/nonexistent:{path.parent}")
    assert L.resolve_target(path.name) == [str(path)]
    assert L.resolve_target(str(path.parent / "plain_*")) == \
        sorted(str(p) for p in plain_binaries.values())
    with pytest.raises(L.TargetNotFound, match="'no_such_prog' does not exist"):
        L.resolve_target("no_such_prog")


def test_resolve_library_names():
    libc = L.resolve_library("libc")
    assert os.path.basename(libc).startswith("libc.so")
    assert L.resolve_library("c") == libc
    assert L.resolve_target("libc") == [libc]
    # ld.so.cache agrees with `ldconfig -p`
    if shutil.which("ldconfig"):
        out = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True, timeout=30).stdout
        expected = {m.group(1) for m in re.finditer(r"=> (\S+)", out)}
        assert {p for _s, p, _f in L.ld_so_cache()} == expected
    assert L.resolve_library("definitely_not_a_lib_xyz") is None


def test_resolve_library_from_process_maps():
    # the library this very process has mapped wins with -p
    lib = L.resolve_library("libc", os.getpid())
    with open(f"/proc/{os.getpid()}/maps") as f:
        assert lib in f.read()
    assert L.path_for_pid(os.getpid(), "/bin/true") == "/bin/true"   # same mount namespace
    assert os.path.samefile(L.pid_executable(os.getpid()), "/proc/self/exe")


# ---- USDT

def _readelf_notes(path) -> list[dict]:
    out = subprocess.run(["readelf", "-n", str(path)], capture_output=True, text=True,
                         timeout=30, check=True).stdout
    notes = []
    for m in re.finditer(r"Provider: (\S+)\s+Name: (\S+)\s+Location: (0x\w+), Base: (0x\w+), "
                         r"Semaphore: (0x\w+)\s+Arguments: ([^\n]*)", out):
        notes.append(dict(provider=m.group(1), name=m.group(2), pc=int(m.group(3), 16),
                          base=int(m.group(4), 16), sem=int(m.group(5), 16),
                          args=m.group(6).strip()))
    return notes


@pytest.mark.parametrize("opt", ["O0", "O2"])
def test_usdt_notes_match_readelf(usdt_binaries, opt):
    path = usdt_binaries[opt]
    probes = U.read_probes(str(path))
    expected = _readelf_notes(path)
    assert [(p.provider, p.name, p.pc, p.base, p.semaphore, p.args_text) for p in probes] == \
        [(n["provider"], n["name"], n["pc"], n["base"], n["sem"], n["args"]) for n in expected]
    elf = E.load_elf(str(path))
    segs = _load_segments(path)
    for p in probes:
        off, vaddr = next((o, v) for o, v, m in segs if v <= p.pc < v + m)
        assert p.file_offset == p.pc - vaddr + off
        assert len(p.args) == len(p.args_text.split())
    guarded = U.find_probes(str(path), "app", "guarded")[0]
    sem = elf.find("app_guarded_semaphore")
    assert guarded.semaphore == sem.address
    assert guarded.semaphore_offset == elf.address_to_file_offset(sem.address)
    with open(path, "rb") as f:                # the semaphore's bytes sit at that offset
        f.seek(guarded.semaphore_offset)
        assert f.read(2) == b"\0\0"
    plain = U.find_probes(str(path), "app", "plain")[0]
    assert plain.semaphore == 0 and plain.semaphore_offset == 0
    assert [p.name for p in U.find_probes(str(path), "*", "g*")] == ["global", "guarded"]
    assert U.find_probes(str(path), "other", "*") == []


def test_usdt_plain_args_O2(usdt_binaries):
    plain = U.find_probes(str(usdt_binaries["O2"]), "app", "plain")[0]
    a, b, s, uc = plain.args
    assert (a.size, a.signed, b.size, b.signed) == (4, True, 8, True)
    assert (s.size, s.signed, uc.size, uc.signed) == (2, True, 1, False)
    for arg, value in ((s, -3), (uc, 200)):
        if arg.kind == "const":
            assert arg.value == value
    glob = U.find_probes(str(usdt_binaries["O2"]), "app", "global")[0]
    if glob.args[0].kind == "rip":
        assert glob.args[0].symbol == "counter"
        assert glob.args[0].address == E.load_elf(str(usdt_binaries["O2"])).find("counter").address


@pytest.mark.parametrize("spec, expect", [
    ("-4@%eax", dict(size=4, signed=True, kind="reg", reg_field="ax", reg_off=80, width=4)),
    ("8@%r12", dict(size=8, signed=False, kind="reg", reg_field="r12", reg_off=24, width=8)),
    ("1@%ah", dict(size=1, signed=False, kind="reg", reg_field="ax", shift=8)),
    ("2@%r9w", dict(size=2, kind="reg", reg_field="r9", width=2)),
    ("8@-16(%rbp)", dict(size=8, signed=False, kind="mem", reg_field="bp", disp=-16)),
    ("-4@0x10(%rsp)", dict(size=4, signed=True, kind="mem", reg_field="sp", disp=16)),
    ("4@$5", dict(size=4, kind="const", value=5)),
    ("1@$-56", dict(size=1, signed=False, kind="const", value=200)),
    ("-8@$-1", dict(size=8, signed=True, kind="const", value=-1)),
    ("8@counter(%rip)", dict(kind="rip", symbol="counter", disp=0)),
    ("-4@counter+8(%rip)", dict(kind="rip", symbol="counter", disp=8)),
    ("8@(%rax,%rdx,8)", dict(kind="mem", reg_field="ax", index="dx", scale=8, disp=0)),
    ("%rdi", dict(size=8, signed=True, kind="reg", reg_field="di")),
])
def test_parse_arg_specs(spec, expect):
    a = U.parse_arg(spec)
    got = dict(size=a.size, signed=a.signed, kind=a.kind, value=a.value, disp=a.disp,
               symbol=a.symbol, scale=a.scale,
               reg_field=a.reg.field if a.reg else None, reg_off=a.reg.offset if a.reg else None,
               width=a.reg.width if a.reg else None, shift=a.reg.shift if a.reg else None,
               index=a.index.field if a.index else None)
    assert {k: got[k] for k in expect} == expect


@pytest.mark.parametrize("bad", ["4@%xyz", "3@%eax", "4@", "8@foo(%rax)"])
def test_parse_arg_errors(bad):
    with pytest.raises(U.UsdtError):
        U.parse_arg(bad)


def test_uprobe_sites(plain_binaries):
    path = str(plain_binaries["nopie"])
    elf = E.load_elf(path)
    sites = L.uprobe_sites(path, "*_function")
    assert [s.func for s in sites] == ["leaf_function", "middle_function"]
    leaf = elf.find("leaf_function")
    assert sites[0].file_offset == elf.address_to_file_offset(leaf.address)
    plus = L.uprobe_sites(path, "leaf_function", offset=4)[0]
    assert plus.address == leaf.address + 4 and plus.file_offset == sites[0].file_offset + 4
    with pytest.raises(L.UprobeOffsetError, match=rf"'leaf_function' size is {leaf.size}"):
        L.uprobe_sites(path, "leaf_function", offset=leaf.size)
    by_addr = L.uprobe_sites(path, address=leaf.address)[0]
    assert by_addr.file_offset == sites[0].file_offset and by_addr.func == ""
    assert L.uprobe_sites(path, "no_such_function") == []
    libc_sites = L.uprobe_sites("libc", "malloc")
    assert len(libc_sites) == 1 and libc_sites[0].path == L.resolve_library("libc")


def test_usdt_sites_by_path_and_pid(usdt_binaries):
    path = str(usdt_binaries["O2"])
    names = [p.full_name for p in U.usdt_sites(path, "", "*")]
    assert names == ["app:global", "app:guarded", "app:plain"]       # bpftrace -l order
    assert [p.full_name for p in U.usdt_sites(path, "app", "g*")] == ["app:global", "app:guarded"]
    assert U.usdt_sites("/nonexistent/bin", "", "*") == []
    proc = subprocess.Popen([path, "wait"], stdout=subprocess.PIPE, text=True)
    try:
        pid = int(proc.stdout.readline())
        found = U.usdt_sites("*", "app", "plain", pid)
        assert [(p.path, p.full_name) for p in found] == [(path, "app:plain")]
    finally:
        proc.kill()
        proc.wait(timeout=10)


def test_only_star_is_a_wildcard(plain_binaries):
    elf = E.load_elf(str(plain_binaries["nopie"]))
    assert elf.match_functions("leaf_functio?") == []          # '?' is literal in bpftrace
    assert [s.name for s in elf.match_functions("*f_func*")] == ["leaf_function"]
    assert [s.name for s in elf.match_functions("*")] == sorted(
        {s.name for s in elf.functions})


def test_cpp_names_match_demangled(cxx_binary):
    elf = E.load_elf(str(cxx_binary))
    assert sorted(s.name for s in elf.match_functions("cpp_mangled")) == \
        ["_Z11cpp_mangledd", "_Z11cpp_mangledi"]
    assert [s.name for s in elf.match_functions("cpp_mangled(int)")] == ["_Z11cpp_mangledi"]
    assert [s.name for s in elf.match_functions("shapes::*")] == ["_ZNK6shapes6Circle4areaEv"]
    assert E.demangle_names(["_ZNK6shapes6Circle4areaEv", "main"]) == \
        ["shapes::Circle::area() const", "main"]


@pytest.mark.bpftrace
def test_uprobe_listing_matches_bpftrace():
    libc = L.resolve_library("libc")
    out = subprocess.run(["bpftrace", "-l", f"uprobe:{libc}:*"], capture_output=True,
                         text=True, timeout=60).stdout
    expected = {line.split(":", 2)[2] for line in out.split()}
    assert expected, "bpftrace listed nothing"
    assert {s.name for s in E.load_elf(libc).match_functions("*")} == expected


def test_corrupt_files_give_clean_errors(usdt_binaries, tmp_path):
    """Truncated or scribbled-over ELF files raise ElfError/UsdtError, never a traceback."""
    import random
    good = usdt_binaries["O2"].read_bytes()
    rng = random.Random(11)
    variants = [good[:n] for n in (0, 3, 20, 63, 64, 200, len(good) // 2, len(good) - 1)]
    for _ in range(40):
        bad = bytearray(good)
        for _ in range(rng.randrange(1, 40)):
            bad[rng.randrange(16, len(bad))] = rng.randrange(256)
        variants.append(bytes(bad))
    for i, data in enumerate(variants):
        path = tmp_path / f"bad{i}"
        path.write_bytes(data)
        try:
            elf = E.ElfFile(str(path))
            elf.symbols, elf.build_id, elf.is_pie, elf.match_functions("*")
            U.read_probes(str(path))
        except (E.ElfError, U.UsdtError):
            pass


def test_rip_relative_argument_address(usdt_binaries):
    """`-8@counter(%rip)`: in a running PIE the run-time address holds counter's value."""
    path = str(usdt_binaries["O2"])
    glob_probe = U.find_probes(path, "app", "global")[0]
    arg = glob_probe.args[0]
    if arg.kind != "rip":
        pytest.skip(f"gcc passed the global as {arg.spec}")
    assert U.global_address(arg, path) is None                   # PIE without -p
    proc = subprocess.Popen([path, "wait"], stdout=subprocess.PIPE, text=True)
    try:
        pid = int(proc.stdout.readline())
        addr = U.global_address(arg, path, pid)
        with open(f"/proc/{pid}/mem", "rb") as mem:
            mem.seek(addr)
            assert int.from_bytes(mem.read(8), "little") == 42
    finally:
        proc.kill()
        proc.wait(timeout=10)
