"""The compiler's output: the contract between compiler and loader.

Owns `CompiledProgram` and the specs it carries: the BPF ELF object, one `ProbeSpec` per BPF
program with the expanded attach targets it goes to, one `MapSpec` per BPF map (user maps and
internal ones), and one `ActionSpec` per async call site (printf, exit, print, ...).  Stdlib
and `types` only; the loader imports this module and nothing else from the compiler.

Byte layouts the generated code and the loader agree on
--------------------------------------------------------
* Event records on the ring buffer: `u64 action_id` at offset 0, then the action's
  arguments at `ActionSpec.offsets` (C struct layout, zero-filled padding).  Record size is
  `ActionSpec.record_size`.
* Map keys: keyless maps use a u64 key 0 (array maps: u32 key 0); a single key is laid out as
  its type; several keys as a TUPLE (C layout).  hist/lhist maps append a u64 bucket index
  (`MapSpec.bucketed`), so the key is `struct {user_key; u64 bucket}` with the bucket at
  offset `round_up(key_type.size, 8)`.
* Map values: count/sum: u64 (i64 for signed sum) per CPU, summed; min/max: `{i64 value,
  u64 is_set}` per CPU; avg/stats: `{i64 total, u64 count}` per CPU; hist/lhist: u64 per
  CPU per bucket; other values: their type's bytes (plain HASH map).
* Map globals: every ld_imm64 of a map is an R_BPF_64_64 relocation against the symbol
  `MapSpec.elf_symbol`; relocations against symbols of .data/.rodata/.bss become
  BPF_PSEUDO_MAP_VALUE loads of one-element array maps (.rodata frozen).
* Internal maps the loader fills before start: role "elapsed" (alias "start"), a u64 holding
  CLOCK_BOOTTIME ns (bpf_ktime_get_boot_ns) at start, at key 0.  Roles "kstack"/"ustack":
  STACK_TRACE maps the decoder reads KSTACK/USTACK values (`stackid | pid << 32`) from.
* Compiler conventions (additive): a keyless hist/lhist map's key is just the u64 bucket
  (8 bytes).  User map symbols are `AT_<name>` (`@` -> `AT_`), internal ones `__bt_<name>`.
  Program functions are named `ProbeSpec.section` and live in ELF section
  `prog_<section>`.  Integers are stored 8 bytes wide in map values, tuples and records
  (sign kept in the SizedType).  A `join` record holds 16 `string[STRLEN]` elements (empty
  after the first NULL argv pointer) and is sent from a one-entry PERCPU_ARRAY scratch map
  (role "join").  Stack maps (roles "kstack"/"ustack") carry the stack type, whose
  `params` = (limit, mode), in `MapSpec.value_type`; one map per (kind, limit, mode).
  Action ids: printf 0+, system 10000+, cat 20000+, everything else 30000+.
* Lost events: a one-entry PERCPU_ARRAY `MapSpec(internal=True, role="lost")` holding u64
  counts of failed ring buffer writes; the loader reports increases as "Lost N events".
* Stop flag: every probe except BEGIN/END first reads the u64 global `__bt_stopped`, alone
  in the data section `STOP_FLAG_SECTION`, and returns when it is non-zero.  The loader sets
  it to 1 when it detaches, so probes stop at once while their (slow) detach completes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from .types import SizedType

STOP_FLAG_SYMBOL = "__bt_stopped"
STOP_FLAG_SECTION = ".data.bt_stopped"

# Canonical provider names, as printed by the `probe` builtin and `-l`.
PROVIDERS = ("BEGIN", "END", "tracepoint", "rawtracepoint", "interval", "profile", "software",
             "hardware", "kprobe", "kretprobe", "uprobe", "uretprobe", "usdt", "kfunc",
             "kretfunc", "iter", "watchpoint")


@dataclass(frozen=True)
class AttachTarget:
    """One concrete place a program attaches to (wildcards already expanded)."""
    provider: str                   # one of PROVIDERS
    target: str = ""                # tracepoint category, uprobe path, interval unit, sw event
    func: str = ""                  # tracepoint event, function/symbol name
    offset: int = 0                 # uprobe/kprobe offset added to the symbol
    address: Optional[int] = None   # uprobe: file offset / absolute address when known
    freq: int = 0                   # interval/profile: rate; software/hardware: period
    name: str = ""                  # full name for the `probe` builtin / listing
    ref_ctr_offset: int = 0         # usdt semaphore
    attach_error: str = ""          # attaching fails with this message (bpftrace reports some
                                    # attach point problems only when attaching)


@dataclass(frozen=True)
class ProbeSpec:
    """One BPF program (an ELF section) and where it attaches."""
    section: str                    # ELF section name == function symbol name
    prog_type: str                  # tracepoint | raw_tracepoint | perf_event | kprobe | tracing
    targets: tuple[AttachTarget, ...]
    index: int                      # position of the probe block in the source (0-based)
    expected_attach_type: str = ""  # tracing programs: fentry | fexit | raw_tp | iter
    attach_btf_name: str = ""       # tracing programs: BTF func/typedef to attach to
    source_span: Optional[tuple[int, int]] = None  # (line, col) of the probe, for messages
    # When set, the program attaches once, there, and stands for all `targets` (several
    # syscalls:sys_* tracepoints run as one raw_syscalls program filtered by syscall id).
    attach_via: Optional[AttachTarget] = None

    @property
    def provider(self) -> str:
        return self.targets[0].provider if self.targets else ""


@dataclass(frozen=True)
class MapSpec:
    name: str                       # "@x", "@" for the anonymous map; internal maps: any name
    map_type: str                   # hash | percpu_hash | array | percpu_array | ringbuf | stack_trace | perf_event_array
    key_size: int
    value_size: int
    max_entries: int
    key_type: Optional[SizedType] = None     # user key (None when keyless)
    value_type: Optional[SizedType] = None   # aggregation kind or plain value type
    bucketed: bool = False                   # hist/lhist: key ends with a u64 bucket index
    internal: bool = False                   # never printed
    role: str = ""                           # internal maps: "events" | "lost" | "kstack" | "ustack" | ...
    flags: int = 0
    symbol: str = ""                         # ELF symbol of the map's global ("" = `name`)

    @property
    def elf_symbol(self) -> str:
        return self.symbol or self.name


@dataclass(frozen=True)
class ActionSpec:
    """One async call site.  `kind` selects how user space handles the record."""
    id: int
    kind: str                       # printf | system | cat | exit | print_map | print_value | clear | zero | time | join
    fmt: str = ""                   # printf/system/cat/time format string (escapes decoded)
    args: tuple[SizedType, ...] = ()
    offsets: tuple[int, ...] = ()   # byte offset of each arg inside the record
    record_size: int = 8
    map_name: str = ""              # print_map / clear / zero
    top: int = 0                    # print_map
    div: int = 0                    # print_map
    sep: str = " "                  # join separator
    span: Optional[tuple[int, int]] = None


@dataclass(frozen=True)
class CompiledProgram:
    elf: bytes
    probes: tuple[ProbeSpec, ...]
    maps: tuple[MapSpec, ...]
    actions: tuple[ActionSpec, ...]
    probe_names: tuple[str, ...] = ()   # values of the `probe` builtin index this table
    strftime_formats: tuple[str, ...] = ()
    ir: str = ""                        # LLVM IR text (for -d)
    asm: str = ""                       # BPF assembly (for -v), filled lazily by the pipeline
    source_name: str = "stdin"
    warnings: str = ""                  # rendered warnings, printed before attaching
    options: dict = field(default_factory=dict)

    @property
    def user_maps(self) -> list[MapSpec]:
        return sorted((m for m in self.maps if not m.internal), key=lambda m: m.name)

    @property
    def attach_count(self) -> int:
        """The N of bpftrace's "Attaching N probes..." (expanded targets, BEGIN/END included)."""
        return sum(len(p.targets) for p in self.probes)

    def map(self, name: str) -> MapSpec:
        for m in self.maps:
            if m.name == name:
                return m
        raise KeyError(name)

    def internal_map(self, role: str) -> Optional[MapSpec]:
        for m in self.maps:
            if m.internal and m.role == role:
                return m
        return None
