"""Attaching loaded programs to their targets, one small attacher per provider.

Owns `Attachment` (the fds that keep one program attached to one target; closing them
detaches, so nothing outlives the process), the `ATTACHERS` registry keyed by provider name
(tracepoint, rawtracepoint, interval, profile, software, hardware, kprobe/kretprobe,
uprobe/uretprobe/usdt, kfunc/kretfunc) and `run_once()` for BEGIN/END (BPF_PROG_TEST_RUN of
a raw_tracepoint program).  Every failure is an `AttachError` naming the probe.
"""
from __future__ import annotations

import ctypes
import errno
import functools
import os
from dataclasses import dataclass, field
from typing import Callable, Optional

from bpftrace_compiler.artifact import AttachTarget

from . import perf_events
from .errors import AttachError, BpfError
from .syscalls import bpf, close, ioctl, perf_event_open
from .uapi import (AttachType, Cmd, IterCreateAttr, LinkCreateAttr, PERF_ATTR_FLAG_DISABLED,
                   PERF_ATTR_FLAG_FREQ, PERF_ATTR_SIZE_VER8, PERF_EVENT_IOC_ENABLE,
                   PERF_EVENT_IOC_SET_BPF, PerfEventAttr, PerfSwId, PerfType,
                   RawTracepointOpenAttr, TestRunAttr)

TRACEFS = "/sys/kernel/tracing"
EVENT_SOURCES = "/sys/bus/event_source/devices"


@dataclass
class Attachment:
    """Kernel objects holding one program on one target: BPF links and the perf event fds
    they sit on.  Closing them detaches the program."""
    probe: str
    fds: list[int] = field(default_factory=list)
    links: list[int] = field(default_factory=list)
    # tracepoint-style perf events: detaching waits for an RCU grace period (30-160 ms each)
    slow_close: bool = False

    def close(self) -> None:
        links, self.links = self.links, []
        fds, self.fds = self.fds, []
        for fd in links + fds:
            close(fd)


@dataclass(frozen=True)
class AttachContext:
    pid: Optional[int] = None        # -p: uprobe/usdt only fire in this process
    tracefs: str = TRACEFS


Attacher = Callable[[int, AttachTarget, AttachContext], Attachment]


def probe_name(t: AttachTarget) -> str:
    return t.name or ":".join(x for x in (t.provider, t.target, t.func) if x)


@functools.lru_cache(maxsize=1)
def online_cpus() -> tuple[int, ...]:
    with open("/sys/devices/system/cpu/online") as f:
        text = f.read().strip()
    cpus: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        cpus.extend(range(int(lo), int(hi or lo) + 1))
    return tuple(cpus)


def pmu_type(name: str) -> Optional[int]:
    try:
        with open(f"{EVENT_SOURCES}/{name}/type") as f:
            return int(f.read())
    except OSError:
        return None


def pmu_bit(pmu: str, fmt: str) -> int:
    """The bit of a PMU format field such as uprobe/format/retprobe ("config:0")."""
    with open(f"{EVENT_SOURCES}/{pmu}/format/{fmt}") as f:
        return int(f.read().split(":")[1].split("-")[0])


def _link_perf_event(prog_fd: int, perf_fd: int) -> Optional[int]:
    """BPF_LINK_CREATE(BPF_PERF_EVENT): a link fd, or None where the kernel lacks perf links."""
    attr = LinkCreateAttr(prog_fd=prog_fd, target_fd=perf_fd, attach_type=AttachType.PERF_EVENT)
    try:
        return bpf(Cmd.LINK_CREATE, attr, "BPF_LINK_CREATE")
    except BpfError as e:
        if e.errno in (errno.EINVAL, errno.ENOTSUP, 524):
            return None
        raise


def _perf_attach(probe: str, prog_fd: int, attr: PerfEventAttr, pid: int, cpus,
                 slow_close: bool = False) -> Attachment:
    """perf_event_open on each CPU, a BPF link (or PERF_EVENT_IOC_SET_BPF) on each, ENABLE."""
    att = Attachment(probe, slow_close=slow_close)
    attr.size = PERF_ATTR_SIZE_VER8
    attr.flags |= PERF_ATTR_FLAG_DISABLED
    try:
        for cpu in cpus:
            fd = perf_event_open(attr, pid, cpu)
            att.fds.append(fd)
            link = _link_perf_event(prog_fd, fd)
            if link is None:
                ioctl(fd, PERF_EVENT_IOC_SET_BPF, prog_fd, "PERF_EVENT_IOC_SET_BPF")
            else:
                att.links.append(link)
            ioctl(fd, PERF_EVENT_IOC_ENABLE, 0, "PERF_EVENT_IOC_ENABLE")
    except BaseException:
        att.close()
        raise
    return att


def _fail(t: AttachTarget, e: BpfError, why: str = "") -> AttachError:
    return AttachError(probe_name(t), f"Error attaching probe: '{probe_name(t)}': "
                       f"{why or str(e)}", e.errno)


# ---------------------------------------------------------------- tracepoint
def tracepoint_id(category: str, event: str, tracefs: str = TRACEFS) -> int:
    with open(os.path.join(tracefs, "events", category, event, "id")) as f:
        return int(f.read())


def attach_tracepoint(prog_fd: int, t: AttachTarget, ctx: AttachContext) -> Attachment:
    try:
        tp_id = tracepoint_id(t.target, t.func, ctx.tracefs)
    except OSError as e:
        raise AttachError(probe_name(t), f"Error attaching probe: '{probe_name(t)}': tracepoint "
                          f"not found ({e.strerror}: {e.filename})", e.errno or 0) from None
    attr = PerfEventAttr(type=PerfType.TRACEPOINT, config=tp_id, sample_period=1,
                         wakeup_events=1)
    try:
        return _perf_attach(probe_name(t), prog_fd, attr, -1, (0,), slow_close=True)
    except BpfError as e:
        raise _fail(t, e) from None


# ---------------------------------------------------------------- raw tracepoint / tracing
def _raw_tracepoint_open(probe: str, prog_fd: int, name: Optional[str]) -> Attachment:
    buf = ctypes.create_string_buffer(name.encode()) if name else None
    attr = RawTracepointOpenAttr(name=ctypes.addressof(buf) if buf else 0, prog_fd=prog_fd)
    fd = bpf(Cmd.RAW_TRACEPOINT_OPEN, attr, "BPF_RAW_TRACEPOINT_OPEN")
    return Attachment(probe, links=[fd])


def attach_rawtracepoint(prog_fd: int, t: AttachTarget, ctx: AttachContext) -> Attachment:
    try:
        return _raw_tracepoint_open(probe_name(t), prog_fd, t.func or t.target)
    except BpfError as e:
        why = "no such raw tracepoint" if e.errno == errno.ENOENT else ""
        raise _fail(t, e, why) from None


def attach_tracing(prog_fd: int, t: AttachTarget, ctx: AttachContext) -> Attachment:
    """fentry/fexit: the attach point is fixed at load time (attach_btf_id)."""
    try:
        return _raw_tracepoint_open(probe_name(t), prog_fd, None)
    except BpfError as e:
        raise _fail(t, e) from None


def attach_iter(prog_fd: int, t: AttachTarget, ctx: AttachContext) -> Attachment:
    """iter:<name>: a BPF_TRACE_ITER link, then one pass over the iterator (BPF_ITER_CREATE
    and read() to the end), which runs the program once per object; its events wait in the
    ring buffer.  The link is kept until the session ends."""
    try:
        link = bpf(Cmd.LINK_CREATE, LinkCreateAttr(prog_fd=prog_fd,
                                                   attach_type=AttachType.TRACE_ITER),
                   "BPF_LINK_CREATE")
    except BpfError as e:
        raise _fail(t, e) from None
    att = Attachment(probe_name(t), links=[link])
    try:
        it = bpf(Cmd.ITER_CREATE, IterCreateAttr(link_fd=link), "BPF_ITER_CREATE")
        try:
            while os.read(it, 1 << 16):
                pass
        finally:
            close(it)
    except BpfError as e:
        att.close()
        raise _fail(t, e) from None
    except OSError as e:
        att.close()
        raise AttachError(probe_name(t), f"Error running iterator: '{probe_name(t)}': "
                          f"{e.strerror}", e.errno or 0) from None
    return att


# ---------------------------------------------------------------- timers and perf events
_NS_PER_UNIT = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}


def _clock_attr(t: AttachTarget, freq_mode_for_hz: bool) -> PerfEventAttr:
    attr = PerfEventAttr(type=PerfType.SOFTWARE, config=PerfSwId.CPU_CLOCK)
    rate = t.freq
    if rate <= 0:
        raise AttachError(probe_name(t), f"{probe_name(t)}: the rate must be a positive number")
    if t.target == "hz":
        if freq_mode_for_hz:
            attr.flags = PERF_ATTR_FLAG_FREQ
            attr.sample_period = rate          # union with sample_freq
        else:
            attr.sample_period = max(1, 1_000_000_000 // rate)
    elif t.target in _NS_PER_UNIT:
        attr.sample_period = rate * _NS_PER_UNIT[t.target]
    else:
        raise AttachError(probe_name(t), f"{probe_name(t)}: invalid time unit '{t.target}'")
    return attr


def attach_interval(prog_fd: int, t: AttachTarget, ctx: AttachContext) -> Attachment:
    """One cpu-clock event on the first online CPU: fires once per period in total."""
    try:
        return _perf_attach(probe_name(t), prog_fd, _clock_attr(t, False), -1, online_cpus()[:1])
    except BpfError as e:
        raise _fail(t, e) from None


def attach_profile(prog_fd: int, t: AttachTarget, ctx: AttachContext) -> Attachment:
    """One cpu-clock event per online CPU (idle CPUs give no samples, as in bpftrace)."""
    try:
        return _perf_attach(probe_name(t), prog_fd, _clock_attr(t, True), -1, online_cpus())
    except BpfError as e:
        raise _fail(t, e) from None


def _perf_event_attacher(provider: str) -> Attacher:
    perf_type, _ = perf_events.EVENT_TABLES[provider]

    def attach(prog_fd: int, t: AttachTarget, ctx: AttachContext) -> Attachment:
        info = perf_events.lookup(provider, t.target or t.func)
        if info is None:
            raise AttachError(probe_name(t), f"{probe_name(t)}: unknown {provider} event "
                              f"'{t.target or t.func}'")
        attr = PerfEventAttr(type=perf_type, config=info.config,
                             sample_period=t.freq or info.default_period)
        try:
            return _perf_attach(probe_name(t), prog_fd, attr, -1, online_cpus())
        except BpfError as e:
            if provider == "hardware" and e.errno in (errno.ENOENT, errno.EOPNOTSUPP):
                raise AttachError(probe_name(t), f"{probe_name(t)}: this machine has no hardware "
                                  f"performance counters ({e})", e.errno) from None
            raise _fail(t, e) from None
    return attach


# ---------------------------------------------------------------- kprobe / uprobe PMUs
def uprobe_offset(path: str, func: str) -> Optional[int]:
    """File offset of function `func` in the ELF file at `path` (the uprobe PMU's config2)."""
    from .binary_symbols import function_offsets
    return function_offsets(path).get(func)


def _syscall_tracepoint_hint(func: str, ret: bool, tracefs: str) -> str:
    base = func
    for prefix in ("__x64_sys_", "__ia32_sys_", "__se_sys_", "__do_sys_", "ksys_", "sys_", "vfs_",
                   "do_sys_", "do_"):
        if base.startswith(prefix):
            base = base[len(prefix):]
            break
    event = f"sys_{'exit' if ret else 'enter'}_{base}"
    if os.path.isdir(os.path.join(tracefs, "events", "syscalls", event)):
        return f"tracepoint:syscalls:{event}"
    return f"tracepoint:syscalls:sys_{'exit' if ret else 'enter'}_read"


def _kprobe_attacher(ret: bool) -> Attacher:
    def attach(prog_fd: int, t: AttachTarget, ctx: AttachContext) -> Attachment:
        pmu = pmu_type("kprobe")
        if pmu is None:
            hint = _syscall_tracepoint_hint(t.func, ret, ctx.tracefs)
            raise AttachError(probe_name(t), f"{probe_name(t)}: this kernel has no kprobes "
                              f"(CONFIG_KPROBES is off); use a tracepoint such as {hint} instead")
        name = ctypes.create_string_buffer(t.func.encode())
        attr = PerfEventAttr(type=pmu, sample_period=1, wakeup_events=1,
                             config=(1 << pmu_bit("kprobe", "retprobe")) if ret else 0,
                             config1=ctypes.addressof(name), config2=t.offset)
        try:
            return _perf_attach(probe_name(t), prog_fd, attr, -1, (0,), slow_close=True)
        except BpfError as e:
            raise _fail(t, e) from None
    return attach


def _usdt_location(t: AttachTarget) -> Optional[tuple[int, int]]:
    """(file offset, semaphore offset) of USDT probe `[provider:]name` (t.func) in t.target."""
    from .binary_symbols import usdt_probes
    provider, _, name = t.func.rpartition(":")
    for p in usdt_probes(t.target):
        if p.name == name and provider in ("", p.provider):
            return p.offset, p.semaphore_offset
    return None


def _resolve_uprobe(t: AttachTarget, usdt: bool) -> tuple[int, int]:
    """(file offset, ref_ctr_offset) of a uprobe/usdt target the compiler left unresolved."""
    try:
        found = _usdt_location(t) if usdt else uprobe_offset(t.target, t.func)
    except (OSError, ValueError) as e:
        raise AttachError(probe_name(t), f"{probe_name(t)}: cannot read {t.target}: {e}") \
            from None
    if found is None:
        what = "USDT probe" if usdt else "symbol"
        raise AttachError(probe_name(t), f"{probe_name(t)}: {what} '{t.func}' not found in "
                          f"{t.target}")
    return found if usdt else (found, t.ref_ctr_offset)


def _uprobe_attacher(ret: bool, usdt: bool = False) -> Attacher:
    def attach(prog_fd: int, t: AttachTarget, ctx: AttachContext) -> Attachment:
        pmu = pmu_type("uprobe")
        if pmu is None:
            raise AttachError(probe_name(t), f"{probe_name(t)}: this kernel has no uprobe PMU "
                              "(CONFIG_UPROBE_EVENTS is off)")
        offset, ref_ctr = (t.address, t.ref_ctr_offset) if t.address is not None \
            else _resolve_uprobe(t, usdt)
        path = ctypes.create_string_buffer(os.fsencode(t.target))
        config = (1 << pmu_bit("uprobe", "retprobe")) if ret else 0
        config |= ref_ctr << 32
        attr = PerfEventAttr(type=pmu, sample_period=1, wakeup_events=1, config=config,
                             config1=ctypes.addressof(path), config2=offset + t.offset)
        pid, cpus = (ctx.pid, (-1,)) if ctx.pid else (-1, (0,))
        try:
            return _perf_attach(probe_name(t), prog_fd, attr, pid, cpus, slow_close=True)
        except BpfError as e:
            raise _fail(t, e) from None
    return attach


ATTACHERS: dict[str, Attacher] = {
    "tracepoint": attach_tracepoint,
    "rawtracepoint": attach_rawtracepoint,
    "interval": attach_interval,
    "profile": attach_profile,
    "software": _perf_event_attacher("software"),
    "hardware": _perf_event_attacher("hardware"),
    "kprobe": _kprobe_attacher(False),
    "kretprobe": _kprobe_attacher(True),
    "uprobe": _uprobe_attacher(False),
    "uretprobe": _uprobe_attacher(True),
    "usdt": _uprobe_attacher(False, usdt=True),
    "kfunc": attach_tracing,
    "kretfunc": attach_tracing,
    "iter": attach_iter,
}

# Providers run by the session itself instead of being attached.
SPECIAL_PROVIDERS = ("BEGIN", "END")


def attach(prog_fd: int, target: AttachTarget, ctx: AttachContext,
           prog_type: str = "") -> Attachment:
    """Attach through the provider's attacher; BTF-typed (tracing) programs, whatever their
    provider (kfunc, kretfunc, rawtracepoint as tp_btf), attach where they were loaded for."""
    if target.attach_error:
        raise AttachError(probe_name(target), target.attach_error)
    attacher = attach_tracing if prog_type == "tracing" and target.provider != "iter" \
        else ATTACHERS.get(target.provider)
    if attacher is None:
        raise AttachError(probe_name(target), f"{probe_name(target)}: pybpftrace cannot attach "
                          f"{target.provider} probes")
    return attacher(prog_fd, target, ctx)


def run_once(prog_fd: int, probe: str) -> int:
    """Run a BEGIN/END program once (BPF_PROG_TEST_RUN of a raw_tracepoint program)."""
    attr = TestRunAttr(prog_fd=prog_fd)
    try:
        bpf(Cmd.PROG_TEST_RUN, attr, "BPF_PROG_TEST_RUN")
    except BpfError as e:
        raise AttachError(probe, f"Error running probe: '{probe}': {e}", e.errno) from None
    return attr.retval
