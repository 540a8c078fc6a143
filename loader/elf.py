"""Reading the compiler's BPF ELF object and patching its map references.

Owns `ElfObject` (program sections with their instructions, symbols, `.rel<section>`
relocations, and the .data/.rodata/.bss global-data sections) and `relocate()`, which turns
each `ld_imm64` against a map symbol into `src_reg=BPF_PSEUDO_MAP_FD, imm=fd` and each one
against global data into `BPF_PSEUDO_MAP_VALUE` (fd + offset into a one-element array map).
Little-endian ELF64 only (EM_BPF); stdlib only.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field

from .errors import LoadError
from .uapi import BPF_LD_IMM64, BPF_PSEUDO_MAP_FD, BPF_PSEUDO_MAP_VALUE

SHT_PROGBITS, SHT_SYMTAB, SHT_NOBITS, SHT_REL = 1, 2, 8, 9
SHF_WRITE, SHF_EXECINSTR = 0x1, 0x4
SHN_UNDEF = 0
STT_SECTION, STT_FUNC = 3, 2
R_BPF_64_64 = 1
EM_BPF = 247
INSN_SIZE = 8

_SHDR = struct.Struct("<IIQQQQIIQQ")
_SYM = struct.Struct("<IBBHQQ")
_REL = struct.Struct("<QQ")


@dataclass(frozen=True)
class Symbol:
    name: str
    section: int          # section index (0 = undefined)
    value: int
    size: int
    type: int


@dataclass(frozen=True)
class Relocation:
    offset: int           # byte offset of the instruction inside its section
    symbol: Symbol
    type: int


@dataclass(frozen=True)
class DataSection:
    """A global-data section (.data, .rodata*, .bss): one one-element array map at load."""
    name: str
    data: bytes           # zeros for .bss
    readonly: bool


@dataclass
class ElfObject:
    programs: dict[str, bytes] = field(default_factory=dict)          # section -> insns
    relocations: dict[str, list[Relocation]] = field(default_factory=dict)
    data_sections: dict[str, DataSection] = field(default_factory=dict)
    license: str = "GPL"
    functions: dict[str, str] = field(default_factory=dict)           # func symbol -> section
    section_names: list[str] = field(default_factory=list)            # by section index

    def program(self, name: str) -> bytes:
        """Instructions of the program whose section or function symbol is `name`."""
        if name in self.programs:
            return self.programs[name]
        if name in self.functions:
            return self.programs[self.functions[name]]
        raise LoadError(f"the compiled object has no program section '{name}'")

    def section_of(self, name: str) -> str:
        return name if name in self.programs else self.functions.get(name, name)


def _cstr(blob: bytes, off: int) -> str:
    end = blob.find(b"\0", off)
    return blob[off:end if end >= 0 else len(blob)].decode("utf-8", "replace")


def parse_elf(data: bytes) -> ElfObject:
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise LoadError("the compiled object is not a little-endian ELF64 file")
    machine, = struct.unpack_from("<H", data, 0x12)
    if machine != EM_BPF:
        raise LoadError(f"the compiled object is not a BPF object (e_machine={machine})")
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    shdrs = [_SHDR.unpack_from(data, shoff + i * shentsize) for i in range(shnum)]
    shstr = data[shdrs[shstrndx][4]:shdrs[shstrndx][4] + shdrs[shstrndx][5]]
    names = [_cstr(shstr, h[0]) for h in shdrs]

    def body(i: int) -> bytes:
        h = shdrs[i]
        return bytes(h[5]) if h[1] == SHT_NOBITS else data[h[4]:h[4] + h[5]]

    symbols: list[Symbol] = []
    for i, h in enumerate(shdrs):
        if h[1] == SHT_SYMTAB:
            strtab = body(h[6])
            raw = body(i)
            for off in range(0, len(raw), _SYM.size):
                st_name, info, _other, shndx, value, size = _SYM.unpack_from(raw, off)
                name = _cstr(strtab, st_name)
                if info & 0xF == STT_SECTION and shndx < len(names):
                    name = names[shndx]
                symbols.append(Symbol(name, shndx, value, size, info & 0xF))

    obj = ElfObject(section_names=names)
    for i, h in enumerate(shdrs):
        name, typ, flags = names[i], h[1], h[2]
        if typ == SHT_PROGBITS and flags & SHF_EXECINSTR and h[5] > 0:
            obj.programs[name] = body(i)
        elif name == "license":
            obj.license = body(i).split(b"\0", 1)[0].decode() or "GPL"
        elif name.startswith((".data", ".rodata", ".bss")) and typ in (SHT_PROGBITS, SHT_NOBITS) \
                and h[5] > 0:
            obj.data_sections[name] = DataSection(name, body(i), not flags & SHF_WRITE)
    for sym in symbols:
        if sym.type == STT_FUNC and 0 < sym.section < len(names) and names[sym.section] in obj.programs:
            obj.functions.setdefault(sym.name, names[sym.section])
    for i, h in enumerate(shdrs):
        if h[1] != SHT_REL or names[h[7]] not in obj.programs:
            continue
        raw = body(i)
        relocs = []
        for off in range(0, len(raw), _REL.size):
            r_offset, r_info = _REL.unpack_from(raw, off)
            relocs.append(Relocation(r_offset, symbols[r_info >> 32], r_info & 0xFFFFFFFF))
        obj.relocations[names[h[7]]] = relocs
    return obj


def relocate(obj: ElfObject, section: str, map_fds: dict[str, int],
             data_fds: dict[str, int]) -> bytes:
    """The program's instructions with every map/global-data reference patched.

    `map_fds`: ELF symbol -> map fd; `data_fds`: data section name -> its array map fd.
    """
    insns = bytearray(obj.programs[section])
    names = obj.section_names
    for rel in obj.relocations.get(section, ()):
        sym, off = rel.symbol, rel.offset
        if off + 2 * INSN_SIZE > len(insns) or insns[off] != BPF_LD_IMM64:
            raise LoadError(f"{section}: relocation against '{sym.name}' at byte {off} "
                            "is not an ld_imm64 instruction (bpf-to-bpf calls are not linked)")
        if sym.name in map_fds and sym.type != STT_SECTION:
            _patch_ld_imm64(insns, off, BPF_PSEUDO_MAP_FD, map_fds[sym.name], 0)
            continue
        data_name = names[sym.section] if 0 < sym.section < len(names) else ""
        if data_name in data_fds:
            addend, = struct.unpack_from("<i", insns, off + 4)
            _patch_ld_imm64(insns, off, BPF_PSEUDO_MAP_VALUE, data_fds[data_name],
                            sym.value + addend)
            continue
        raise LoadError(f"{section}: reference to unknown map or global '{sym.name}'")
    return bytes(insns)


def _patch_ld_imm64(insns: bytearray, off: int, src_reg: int, imm: int, imm2: int) -> None:
    regs = insns[off + 1]
    insns[off + 1] = (regs & 0x0F) | (src_reg << 4)
    struct.pack_into("<i", insns, off + 4, imm)
    struct.pack_into("<i", insns, off + INSN_SIZE + 4, imm2)
