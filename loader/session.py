"""The Session: runs one CompiledProgram in the kernel and hands back its events and maps.

Owns the run's lifecycle: `start()` (create maps, fill internal maps, load every program,
run BEGIN, attach the rest; on any failure everything done so far is released), `poll()`
(ring buffer records -> events, executing print/clear/zero in order, exit() semantics, lost
events), `snapshot()`, `stop()` (detach, run END, drain) and `close()`.  Only fd-based kernel
objects are used (nothing pinned), so even SIGKILL leaves nothing loaded.  Installs no signal
handlers; the caller owns the loop (`fileno()` + `poll()`).
"""
from __future__ import annotations

import select
import struct
import time
from typing import Optional

from bpftrace_compiler.artifact import STOP_FLAG_SECTION, CompiledProgram, MapSpec, ProbeSpec
from bpftrace_compiler.types import SizedType

from . import events as ev
from .attach import SPECIAL_PROVIDERS, AttachContext, Attachment, attach, run_once
from .decode import Decoder, MapAction
from .detach import detach_in_background
from .elf import ElfObject, parse_elf, relocate
from .errors import LoadError
from .maps import BpfMap
from .pid_watch import UserPidWatch
from .programs import load_program, prog_id, probe_display_name, verifier_stats
from .ringbuf import RingBuffer
from .syscalls import close
from .uapi import BPF_F_RDONLY_PROG, MapType
from .values import MapSnapshot


def _boottime_ns(m: BpfMap) -> None:
    """role "elapsed": CLOCK_BOOTTIME ns at start, what bpf_ktime_get_boot_ns() counts."""
    now = struct.pack("<Q", time.clock_gettime_ns(time.CLOCK_BOOTTIME))
    m.update(bytes(m.key_size), now.ljust(m.value_stride // m.ncpus, b"\0") * m.ncpus)


def end_action_ids(program: CompiledProgram) -> Optional[frozenset[int]]:
    """Ids of the actions written inside END blocks, found by source position (a call site
    belongs to the last probe block starting before it); None when positions are missing."""
    starts = sorted((p.source_span, p.provider) for p in program.probes if p.source_span)
    if not starts or any(a.span is None for a in program.actions):
        return None
    ids = set()
    for a in program.actions:
        owner = [provider for span, provider in starts if span <= a.span]
        if owner and owner[-1] == "END":
            ids.add(a.id)
    return frozenset(ids)


# internal map role -> how the session fills it before any program runs
INTERNAL_MAP_FILLERS = {
    "elapsed": _boottime_ns,
    "start": _boottime_ns,
}

_NEW, _STARTED, _STOPPED, _CLOSED = "new", "started", "stopped", "closed"
_ACTION_ID = struct.Struct("<Q")


def _remember_process(pid: int) -> None:
    from . import user_symbols
    user_symbols.remember(pid)


class Session:
    def __init__(self, program: CompiledProgram, *, pid: Optional[int] = None,
                 collect_verifier_stats: bool = False):
        self.program = program
        self.pid = pid
        self.collect_verifier_stats = collect_verifier_stats
        self.verifier_stats: list[tuple[str, str]] = []   # (probe name, verifier statistics), for -v
        self.attached = 0
        self.lost = 0
        self.prog_ids: list[int] = []           # kernel ids of our programs (bpftool prog show)
        self._state = _NEW
        self._maps: dict[str, BpfMap] = {}      # MapSpec.name -> map
        self._data_maps: dict[str, BpfMap] = {}  # ELF data section -> one-element array map
        self._progs: dict[str, int] = {}        # ProbeSpec.section -> prog fd
        self._attachments: list[Attachment] = []
        self._ring: Optional[RingBuffer] = None
        self._epoll: Optional[select.epoll] = None
        self._reapers: list = []                # child processes releasing slow detaches
        self._exited = False
        self._decoder = Decoder(program, self._read_stack)
        self._pid_watch = UserPidWatch(program.user_maps, lambda n: self._maps[n].items(),
                                       _remember_process)
        self._remembered: set[int] = set()      # pids whose mappings events made us snapshot
        if self._decoder.pid_fields or self._pid_watch.fields:
            from . import user_symbols  # noqa: F401  imported now, not when the first event waits

    # ------------------------------------------------------------------ start
    def start(self) -> None:
        if self._state != _NEW:
            raise RuntimeError("Session.start() may only be called once")
        self._state = _STARTED
        try:
            obj = parse_elf(self.program.elf)
            self._create_maps(obj)
            self._open_ring()
            self._load_programs(obj)
            self._run_special("BEGIN")
            self._attach_probes()
        except BaseException:
            self._release()
            raise

    def _create_maps(self, obj: ElfObject) -> None:
        for spec in self.program.maps:
            self._maps[spec.name] = BpfMap.create(spec)
        for name, section in obj.data_sections.items():
            spec = MapSpec(name, "array", 4, len(section.data), 1, internal=True, role="data")
            m = BpfMap.create(spec, name=name.lstrip(".")[:15],
                              flags=BPF_F_RDONLY_PROG if section.readonly else 0)
            self._data_maps[name] = m
            m.update(bytes(4), section.data)
            if section.readonly:
                m.freeze()
        for spec in self.program.maps:
            fill = INTERNAL_MAP_FILLERS.get(spec.role) if spec.internal else None
            if fill is not None:
                fill(self._maps[spec.name])

    def _open_ring(self) -> None:
        self._epoll = select.epoll()
        spec = self.program.internal_map("events")
        if spec is not None and self._maps[spec.name].map_type == MapType.RINGBUF:
            m = self._maps[spec.name]
            self._ring = RingBuffer(m.fd, spec.max_entries)
            self._epoll.register(m.fd, select.EPOLLIN)

    def _load_programs(self, obj: ElfObject) -> None:
        map_fds = {}
        for spec in self.program.maps:
            fd = self._maps[spec.name].fd
            map_fds.setdefault(spec.elf_symbol, fd)
            map_fds.setdefault(spec.name, fd)
        data_fds = {name: m.fd for name, m in self._data_maps.items()}
        for probe in self.program.probes:
            section = obj.section_of(probe.section)
            if section not in obj.programs:
                raise LoadError(f"{probe_display_name(probe)}: the compiled object has no "
                                f"program section '{probe.section}'")
            code = relocate(obj, section, map_fds, data_fds)
            fd = load_program(probe, code, obj.license)
            self._progs[probe.section] = fd
            self.prog_ids.append(prog_id(fd))
            if self.collect_verifier_stats:
                self.verifier_stats.append((probe_display_name(probe),
                                            verifier_stats(probe, code, obj.license)))

    def _special(self, provider: str) -> list[ProbeSpec]:
        return [p for p in self.program.probes if p.provider == provider]

    def _run_special(self, provider: str) -> None:
        for probe in self._special(provider):
            run_once(self._progs[probe.section], probe_display_name(probe))

    def _attach_probes(self) -> None:
        ctx = AttachContext(pid=self.pid)
        for probe in self.program.probes:
            if probe.provider in SPECIAL_PROVIDERS:
                self.attached += len(probe.targets)
                continue
            fd = self._progs[probe.section]
            if probe.attach_via is not None:
                self._attachments.append(attach(fd, probe.attach_via, ctx, probe.prog_type))
                self.attached += len(probe.targets)
                continue
            for target in probe.targets:
                self._attachments.append(attach(fd, target, ctx, probe.prog_type))
                self.attached += 1

    # ------------------------------------------------------------------ events
    def fileno(self) -> int:
        if self._epoll is None:
            raise RuntimeError("the session is not started")
        return self._epoll.fileno()

    def pending(self) -> bool:
        """True when records are waiting in the ring buffer (poll() with a limit left some)."""
        return self._state == _STARTED and self._ring is not None and self._ring.pending()

    def poll(self, timeout: float = 0.0, limit: Optional[int] = None) -> list[ev.Event]:
        """Events from at most `limit` records (all pending ones by default), waiting up to
        `timeout` seconds for the first."""
        if self._state != _STARTED:
            return []
        records = self._ring.drain(limit) if self._ring else []
        if not records and timeout > 0:
            self._epoll.poll(timeout)
            records = self._ring.drain(limit) if self._ring else []
        out = self._check_lost()
        if self._exited:           # bpftrace stops handling events once exit() was seen
            return out
        if self._decoder.pid_fields:
            self._remember_pids(records)
        out.extend(self._handle(records))
        self._pid_watch.tick()
        return out

    def _remember_pids(self, records: list[bytes]) -> None:
        """Snapshot the mappings of every new pid in this batch's usym/ustack values before
        decoding any record: a process that exits right after its event (while earlier
        records are formatted) keeps its symbols."""
        fresh = {pid for data in records for pid in self._decoder.record_pids(data)}
        fresh -= self._remembered
        if len(self._remembered) > 65536:       # bounded; a pid seen again is re-snapshotted
            self._remembered.clear()
        for pid in fresh:
            if pid > 0:
                _remember_process(pid)
        self._remembered |= fresh

    def _handle(self, records: list[bytes], only: Optional[frozenset[int]] = None
                ) -> list[ev.Event]:
        """Decode and act on records in order; `only`: keep just these action ids."""
        out: list[ev.Event] = []
        for data in records:
            if only is not None and len(data) >= 8 and _ACTION_ID.unpack_from(data)[0] not in only:
                continue
            item = self._decoder.record(data)
            if item is None:
                continue
            if isinstance(item, MapAction):
                self._map_action(item, out)
            elif isinstance(item, ev.Exit):
                out.append(item)
                self._exited = True
                if self._ring:
                    self._ring.discard()     # the records after exit() are dropped
                break
            else:
                out.append(item)
        return out

    def _map_action(self, item: MapAction, out: list) -> None:
        name = item.action.map_name
        if item.kind == "print_map":
            out.append(ev.PrintMap(self._read_map(self.program.map(name)), item.action.top,
                                   item.action.div))
        elif item.kind == "clear":
            self._maps[name].clear()
        elif item.kind == "zero":
            self._maps[name].zero()

    def _check_lost(self) -> list[ev.Event]:
        spec = self.program.internal_map("lost")
        if spec is None or spec.name not in self._maps:
            return []
        m = self._maps[spec.name]
        raw = m.lookup(bytes(m.key_size))
        total = sum(struct.unpack_from("<Q", s)[0] for s in m.per_cpu(raw)) if raw else 0
        if total <= self.lost:
            return []
        n, self.lost = total - self.lost, total
        return [ev.Lost(n)]

    # ------------------------------------------------------------------ maps
    def _read_map(self, spec: MapSpec) -> MapSnapshot:
        m = self._maps[spec.name]
        return self._decoder.map_snapshot_packed(spec, *m.packed_items(), m.ncpus)

    def _read_stack(self, t: SizedType, stack_id: int) -> Optional[list[int]]:
        candidates = [s for s in self.program.maps
                      if s.internal and s.role == t.kind.value and s.name in self._maps]
        exact = [s for s in candidates if s.value_type is not None
                 and s.value_type.params == t.params]
        spec = (exact or candidates or [None])[0]
        if spec is None:
            return None
        raw = self._maps[spec.name].lookup(struct.pack("<I", stack_id))
        if raw is None:
            return None
        return list(struct.unpack(f"<{len(raw) // 8}Q", raw[:len(raw) // 8 * 8]))

    @property
    def dropped_stacks(self) -> int:
        """How many distinct stack values seen so far were dropped by get_stackid (their
        stack-trace map had no room); they decode as empty stacks."""
        return len(self._decoder.dropped_stacks)

    def stack_map_entries(self) -> int:
        """The smallest stack-trace map's slot count (for the drop warning)."""
        sizes = [s.max_entries for s in self.program.maps if s.map_type == "stack_trace"]
        return min(sizes) if sizes else 0

    def snapshot(self, names: Optional[list[str]] = None) -> list[MapSnapshot]:
        if not self._maps:
            return []
        wanted = set(names) if names is not None else None
        return [self._read_map(spec) for spec in self.program.user_maps
                if wanted is None or spec.name in wanted]

    # ------------------------------------------------------------------ stop / close
    def stop(self, pending_limit: Optional[int] = None) -> list[ev.Event]:
        """Detach, deliver what the probes sent before, run END and deliver its output.

        Tracepoint-style detaches wait for the kernel's RCU (tens of ms each), so they run in
        the background; records that probes still send meanwhile are dropped after END runs
        (only END's own actions are kept), as if the detach had been instant.
        `pending_limit`: deliver at most that many of the records still pending (a flood's
        backlog takes seconds to format); the rest are reported as lost."""
        if self._state != _STARTED:
            return []
        self._detach()
        out: list[ev.Event] = []
        if self._exited:
            if self._ring:
                self._ring.discard()
        else:
            out.extend(self._handle(self._ring.drain(pending_limit) if self._ring else []))
            skipped = self._ring.skip() if self._ring and pending_limit is not None else 0
            if skipped:
                out.append(ev.Lost(skipped))
        self._exited = False         # END's own output is always delivered
        try:
            self._run_special("END")
        finally:
            out.extend(self._check_lost())
            out.extend(self._handle(self._ring.drain() if self._ring else [],
                                    only=end_action_ids(self.program)))
            self._state = _STOPPED
            self._close_programs()
        return out

    def _detach(self) -> None:
        """Detach every probe: fast ones now; slow ones (perf events whose close waits for
        the kernel's RCU, tens of ms each) are disabled now and released by child processes
        (loader/detach.py), so neither stop() nor the process exit waits for them."""
        stop = self._data_maps.get(STOP_FLAG_SECTION)
        if stop is not None and self._attachments:
            stop.update(bytes(4), struct.pack("<Q", 1))     # every probe returns from now on
        attachments, self._attachments = self._attachments, []
        slow = []
        for att in attachments:
            if att.slow_close:
                slow.append(att)
            else:
                att.close()
        if slow:
            self._reapers.extend(detach_in_background(slow))

    def _close_programs(self) -> None:
        progs, self._progs = self._progs, {}
        for fd in progs.values():
            close(fd)

    def _release(self, wait_detach: bool = True) -> None:
        """Close every fd; `wait_detach`: also wait until the background detaches are done."""
        self._detach()
        self._close_programs()
        if self._ring is not None:
            self._ring.close()
            self._ring = None
        if self._epoll is not None:
            self._epoll.close()
        for m in list(self._maps.values()) + list(self._data_maps.values()):
            m.close()
        self._maps.clear()
        self._data_maps.clear()
        if wait_detach:
            for reaper in self._reapers:
                reaper.wait()
        self._reapers.clear()
        self._state = _CLOSED

    def close(self, wait_detach: bool = True) -> None:
        """Release everything; `wait_detach=False` leaves the slow perf-event releases to
        the child processes (a CLI about to exit need not wait for them)."""
        if self._state != _CLOSED:
            self._release(wait_detach)

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc) -> None:
        try:
            self.stop()
        finally:
            self.close()
