"""USDT probes of an ELF file: the `.note.stapsdt` notes that <sys/sdt.h> emits.

Owns reading each note (provider, name, pc, link-time base, semaphore address, argument
string), the prelink adjustment against `.stapsdt.base`, the file offsets a uprobe needs
(the probe's own offset and the semaphore's `ref_ctr_offset`), and decoding x86-64
argument specs (`-4@%eax`, `8@-16(%rbp)`, `4@$5`, `8@sym+8(%rip)`, `8@(%rax,%rdx,8)`) into
structured `UsdtArg`s that codegen turns into pt_regs reads.  Stdlib only.
"""
from __future__ import annotations

import os
import re
import struct
from dataclasses import dataclass
from typing import Optional

from .elf_symbols import ElfError, ElfFile, load_elf, wildcard_regex
from .libraries import mapped_objects

STAPSDT_OWNER, STAPSDT_TYPE = "stapsdt", 3

# struct pt_regs on x86-64 (arch/x86/include/asm/ptrace.h): field -> byte offset
PT_REGS = {"r15": 0, "r14": 8, "r13": 16, "r12": 24, "bp": 32, "bx": 40, "r11": 48,
           "r10": 56, "r9": 64, "r8": 72, "ax": 80, "cx": 88, "dx": 96, "si": 104,
           "di": 112, "orig_ax": 120, "ip": 128, "cs": 136, "flags": 144, "sp": 152, "ss": 160}


def _register_table() -> dict[str, tuple[str, int, int]]:
    """Assembler register name -> (pt_regs field, width in bytes, right shift in bits)."""
    table: dict[str, tuple[str, int, int]] = {}
    for x in "abcd":                                     # rax eax ax al ah ...
        f = f"{x}x"
        table.update({f"r{x}x": (f, 8, 0), f"e{x}x": (f, 4, 0), f"{x}x": (f, 2, 0),
                      f"{x}l": (f, 1, 0), f"{x}h": (f, 1, 8)})
    for x in ("si", "di", "bp", "sp"):                   # rsi esi si sil ...
        table.update({f"r{x}": (x, 8, 0), f"e{x}": (x, 4, 0), x: (x, 2, 0), f"{x}l": (x, 1, 0)})
    for n in range(8, 16):                               # r8 r8d r8w r8b (r8l)
        f = f"r{n}"
        table.update({f: (f, 8, 0), f"{f}d": (f, 4, 0), f"{f}w": (f, 2, 0), f"{f}b": (f, 1, 0),
                      f"{f}l": (f, 1, 0)})
    table["rip"] = ("ip", 8, 0)
    table["eip"] = ("ip", 4, 0)
    return table


REGISTERS = _register_table()


class UsdtError(Exception):
    """A malformed stapsdt note or argument spec, or an unknown USDT probe."""


@dataclass(frozen=True)
class Register:
    name: str           # as written: "eax"
    field: str          # pt_regs field: "ax"
    offset: int         # byte offset of the field in pt_regs
    width: int          # bytes of the register as written
    shift: int = 0      # 8 for %ah/%bh/%ch/%dh


def register(name: str) -> Register:
    name = name.lstrip("%")
    try:
        field, width, shift = REGISTERS[name]
    except KeyError:
        raise UsdtError(f"unknown x86-64 register %{name}") from None
    return Register(name, field, PT_REGS[field], width, shift)


@dataclass(frozen=True)
class UsdtArg:
    """One decoded argument.  kind: "const" (value), "reg" (register), "mem" (read `size`
    bytes at register + disp [+ index * scale]), "rip" (read at symbol address + disp; the
    address needs the load bias added at run time for PIE/shared objects)."""
    spec: str
    size: int           # bytes, 1/2/4/8
    signed: bool
    kind: str
    value: int = 0                      # const
    reg: Optional[Register] = None      # reg, mem base
    disp: int = 0                       # mem/rip displacement
    index: Optional[Register] = None    # mem index register
    scale: int = 1
    symbol: str = ""                    # rip: symbol name
    address: Optional[int] = None       # rip: link-time address of symbol+disp when known


_SPEC = re.compile(r"^(?:(-?)(1|2|4|8)@)?(.+)$")
_CONST = re.compile(r"^\$(-?(?:0x[0-9a-fA-F]+|\d+))$")
_REG = re.compile(r"^%(\w+)$")
_MEM = re.compile(r"^(?P<disp>[-+]?(?:0x[0-9a-fA-F]+|\d+))?"
                  r"(?P<sym>[A-Za-z_.$][\w.$@]*)?(?P<sdisp>[-+](?:0x[0-9a-fA-F]+|\d+))?"
                  r"\((?P<base>%\w+)?(?:,(?P<idx>%\w+)(?:,(?P<scale>[1248]))?)?\)$")


def parse_arg(spec: str, elf: Optional[ElfFile] = None) -> UsdtArg:
    """Decode one x86-64 stapsdt argument spec (`-4@%eax`, `8@-16(%rbp)`, `4@$5`,
    `8@counter(%rip)`, `8@(%rax,%rdx,8)`).  A spec without `N@` is an 8-byte signed value."""
    m = _SPEC.match(spec.strip())
    if not m:
        raise UsdtError(f"invalid USDT argument spec '{spec}'")
    neg, size_s, operand = m.groups()
    size, signed = (int(size_s), bool(neg)) if size_s else (8, True)
    if c := _CONST.match(operand):
        # gcc writes `1@$-56` for an unsigned char 200: wrap to the declared size and sign
        return UsdtArg(spec, size, signed, "const", value=_wrap(int(c.group(1), 0), size, signed))
    if r := _REG.match(operand):
        return UsdtArg(spec, size, signed, "reg", reg=register(r.group(1)))
    mm = _MEM.match(operand)
    if not mm:
        raise UsdtError(f"invalid USDT argument spec '{spec}'")
    disp = int(mm.group("disp") or "0", 0) + int(mm.group("sdisp") or "0", 0)
    base = register(mm.group("base")) if mm.group("base") else None
    index = register(mm.group("idx")) if mm.group("idx") else None
    scale = int(mm.group("scale") or "1")
    sym = mm.group("sym") or ""
    if base is not None and base.field == "ip":
        address = None
        if sym and elf is not None:
            s = elf.find(sym)
            address = s.address + disp if s is not None else None
        return UsdtArg(spec, size, signed, "rip", disp=disp, symbol=sym, address=address)
    if sym:
        raise UsdtError(f"unsupported USDT argument spec '{spec}' (symbol without %rip)")
    return UsdtArg(spec, size, signed, "mem", reg=base, disp=disp, index=index, scale=scale)


def _wrap(value: int, size: int, signed: bool) -> int:
    value &= (1 << (8 * size)) - 1
    if signed and value >= 1 << (8 * size - 1):
        value -= 1 << (8 * size)
    return value


def split_args(text: str) -> list[str]:
    """Split the note's space-separated argument string (no spaces inside one spec)."""
    return text.split()


@dataclass(frozen=True)
class UsdtProbe:
    path: str
    provider: str
    name: str
    pc: int                     # link-time address of the probe site (prelink-adjusted)
    base: int                   # .stapsdt.base address recorded in the note
    semaphore: int              # address of the u16 semaphore, 0 when none
    args_text: str
    args: tuple[UsdtArg, ...]
    file_offset: int            # uprobe offset (config2)
    semaphore_offset: int = 0   # ref_ctr_offset (file offset of the semaphore), 0 when none

    @property
    def full_name(self) -> str:
        return f"{self.provider}:{self.name}"


def _decode_note(desc: bytes) -> tuple[int, int, int, str, str, str]:
    if len(desc) < 24:
        raise UsdtError("truncated stapsdt note")
    pc, base, sem = struct.unpack_from("<QQQ", desc, 0)
    parts = desc[24:].split(b"\0")
    if len(parts) < 3:
        raise UsdtError("malformed stapsdt note strings")
    provider, name, args = (p.decode(errors="replace") for p in parts[:3])
    return pc, base, sem, provider, name, args


def read_probes(path: str) -> list[UsdtProbe]:
    """Every USDT probe site in an ELF file, in note order (a probe used in several places
    appears once per site).  Raises ElfError when `path` is not a readable ELF file."""
    elf = load_elf(path)
    base_sec = elf.section(".stapsdt.base")
    probes = []
    for note in elf.notes():
        if note.owner != STAPSDT_OWNER or note.type != STAPSDT_TYPE:
            continue
        pc, base, sem, provider, name, args_text = _decode_note(note.desc)
        if base_sec is not None and base:            # undo prelinking (sdt.h's documented rule)
            adjust = base_sec.addr - base
            pc += adjust
            sem = sem + adjust if sem else 0
        args = tuple(parse_arg(a, elf) for a in split_args(args_text))
        probes.append(UsdtProbe(path, provider, name, pc, base, sem, args_text, args,
                                elf.address_to_file_offset(pc),
                                elf.address_to_file_offset(sem) if sem else 0))
    return probes


def find_probes(path: str, provider: str = "*", name: str = "*") -> list[UsdtProbe]:
    """Probe sites whose provider and name match bpftrace wildcards (`usdt:path:prov:name`,
    `usdt:path:name` matches any provider)."""
    try:
        probes = read_probes(path)
    except ElfError as e:
        raise UsdtError(str(e)) from None
    prov_rx, name_rx = wildcard_regex(provider or "*"), wildcard_regex(name or "*")
    return [p for p in probes if prov_rx.match(p.provider) and name_rx.match(p.name)]


def usdt_sites(target: str, provider: str, name: str, pid: Optional[int] = None) -> list[UsdtProbe]:
    """Expand `usdt:target:[provider:]name` (wildcards allowed; provider "" matches any) into
    probe sites across every file the target names, plus, with -p, every object the process
    has mapped when the target is `*`.  Sorted like `bpftrace -l` (path, provider, name)."""
    from .libraries import TargetNotFound, path_for_pid, resolve_target

    if target in ("", "*") and pid:
        paths = mapped_objects(pid)
    else:
        try:
            paths = resolve_target(target, pid)
        except TargetNotFound:
            return []
    out: list[UsdtProbe] = []
    for path in paths:
        try:
            found = find_probes(path_for_pid(pid, path), provider or "*", name or "*")
        except UsdtError:
            continue
        out.extend(_renamed(p, path) for p in found)
    return sorted(out, key=lambda p: (p.path, p.provider, p.name, p.pc))


def _renamed(p: UsdtProbe, path: str) -> UsdtProbe:
    from dataclasses import replace
    return p if p.path == path else replace(p, path=path)



def global_address(arg: UsdtArg, path: str, pid: Optional[int] = None) -> Optional[int]:
    """Run-time address of a `%rip`-relative argument (`8@counter(%rip)`): the link-time
    address in a non-PIE executable; with -p, the address in that process for a PIE or
    shared object (load bias from /proc/PID/maps); None when it cannot be known (bcc then
    refuses the probe too)."""
    if arg.kind != "rip" or arg.address is None:
        return None
    elf = load_elf(path)
    if not elf.is_shared:
        return arg.address
    if not pid:
        return None
    bias = _load_bias(elf, path, pid)
    return None if bias is None else arg.address + bias


def _load_bias(elf: ElfFile, path: str, pid: int) -> Optional[int]:
    """Where `path` is loaded in `pid`: map start - (p_vaddr of the segment at that offset)."""
    try:
        real = os.stat(path)
        with open(f"/proc/{pid}/maps") as f:
            lines = f.readlines()
    except OSError:
        return None
    for line in lines:
        parts = line.split(None, 5)
        if len(parts) < 6:
            continue
        dev_major, dev_minor = (int(x, 16) for x in parts[3].split(":"))
        same_file = int(parts[4]) == real.st_ino and \
            os.makedev(dev_major, dev_minor) == real.st_dev
        if not same_file and parts[5].rstrip("\n") != os.path.realpath(path):
            continue
        start, offset = int(parts[0].split("-")[0], 16), int(parts[2], 16)
        try:
            return start - elf.file_offset_to_address(offset)
        except ElfError:
            continue
    return None
