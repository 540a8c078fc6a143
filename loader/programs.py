"""Loading BPF programs: BPF_PROG_LOAD with the verifier log on failure.

Owns `load_program()` (log_level 0 first; on failure a retry with a large log buffer so
the error carries the whole verifier log), the ProbeSpec.prog_type -> BPF program type
registry, program names (<= 15 chars, prefixed `pbt_` so our programs are recognisable in
`bpftool prog show`) and `prog_id()`.
"""
from __future__ import annotations

import ctypes
import errno
import re

from bpftrace_compiler.artifact import ProbeSpec

from .errors import BpfError, LoadError, VerifierError
from .syscalls import bpf
from .uapi import (AttachType, BPF_OBJ_NAME_LEN, Cmd, ObjInfoAttr, ProgInfo, ProgLoadAttr,
                   ProgType)

PROG_TYPES: dict[str, ProgType] = {
    "tracepoint": ProgType.TRACEPOINT,
    "raw_tracepoint": ProgType.RAW_TRACEPOINT,
    "perf_event": ProgType.PERF_EVENT,
    "kprobe": ProgType.KPROBE,
    "tracing": ProgType.TRACING,
}

EXPECTED_ATTACH_TYPES: dict[str, AttachType] = {
    "fentry": AttachType.TRACE_FENTRY,
    "fexit": AttachType.TRACE_FEXIT,
    "raw_tp": AttachType.TRACE_RAW_TP,
    "iter": AttachType.TRACE_ITER,
}

PROG_NAME_PREFIX = "pbt_"
TRACEFS = "/sys/kernel/tracing"
_LOG_SIZE = 16 << 20       # large enough for the verifier's log of a 1M-instruction program


def probe_display_name(probe: ProbeSpec) -> str:
    """The probe as the user wrote it (first target), for messages."""
    if probe.targets:
        t = probe.targets[0]
        return t.name or ":".join(x for x in (t.provider, t.target, t.func) if x)
    return probe.section


def program_name(probe: ProbeSpec) -> str:
    t = probe.targets[0] if probe.targets else None
    base = (t.func or t.target or t.provider) if t else probe.section
    name = PROG_NAME_PREFIX + re.sub(r"[^A-Za-z0-9_]", "_", base)
    return name[:BPF_OBJ_NAME_LEN - 1]


def _attr(probe: ProbeSpec, insns: ctypes.Array, license: ctypes.Array,
          attach_btf_id: int) -> ProgLoadAttr:
    prog_type = PROG_TYPES.get(probe.prog_type)
    if prog_type is None:
        raise LoadError(f"{probe_display_name(probe)}: unknown program type '{probe.prog_type}'")
    attr = ProgLoadAttr(prog_type=prog_type, insn_cnt=len(insns) // 8,
                        insns=ctypes.addressof(insns), license=ctypes.addressof(license))
    attr.prog_name = program_name(probe).encode()
    if probe.expected_attach_type:
        attr.expected_attach_type = EXPECTED_ATTACH_TYPES[probe.expected_attach_type]
    attr.attach_btf_id = attach_btf_id
    return attr


def _tracing_btf_id(probe: ProbeSpec) -> int:
    """fentry/fexit attach to a BTF FUNC, tp_btf to the `btf_trace_<event>` TYPEDEF."""
    from .btf_ids import btf_type_id
    name = probe.attach_btf_name or (probe.targets[0].func if probe.targets else "")
    kind = "typedef" if probe.expected_attach_type == "raw_tp" else "func"
    if kind == "typedef" and not name.startswith("btf_trace_"):
        name = "btf_trace_" + name
    type_id = btf_type_id(name, kind)
    if type_id is None:
        raise LoadError(f"{probe_display_name(probe)}: '{name}' is not in the kernel's BTF "
                        "(/sys/kernel/btf/vmlinux)")
    return type_id


FUNCTION_HOOKS = {"fentry": "kfunc", "fexit": "kretfunc"}


def _function_hooks_refused(probe: ProbeSpec) -> str:
    """kfunc/kretfunc on a kernel that refuses fentry/fexit programs (EPERM, empty log)."""
    from .attach import _syscall_tracepoint_hint
    t = probe.targets[0] if probe.targets else None
    func = t.func if t else ""
    hint = _syscall_tracepoint_hint(func, probe.expected_attach_type == "fexit", TRACEFS)
    return (f"{probe_display_name(probe)}: this kernel refuses {probe.expected_attach_type} "
            "programs (BPF_PROG_LOAD fails with EPERM and no verifier log: function-level "
            f"hooking is disabled), so {FUNCTION_HOOKS[probe.expected_attach_type]} probes "
            f"cannot run here; use a tracepoint such as {hint} instead")


def load_program(probe: ProbeSpec, code: bytes, license: str = "GPL",
                 attach_btf_id: int = 0) -> int:
    """Load one program; returns its fd.  Raises VerifierError with the log on rejection."""
    if probe.prog_type == "tracing" and not attach_btf_id:
        attach_btf_id = _tracing_btf_id(probe)
    insns = ctypes.create_string_buffer(code, len(code))
    lic = ctypes.create_string_buffer(license.encode() + b"\0")
    attr = _attr(probe, insns, lic, attach_btf_id)
    try:
        return bpf(Cmd.PROG_LOAD, attr, "BPF_PROG_LOAD")
    except BpfError as first:
        if first.errno not in (errno.EACCES, errno.EINVAL, errno.E2BIG, errno.ENOSPC,
                               errno.EPERM, errno.EFAULT):
            raise LoadError(f"Error loading program: {probe_display_name(probe)}: {first}") \
                from first
    size = _LOG_SIZE
    for _ in range(3):
        log = ctypes.create_string_buffer(size)
        attr = _attr(probe, insns, lic, attach_btf_id)
        attr.log_level, attr.log_size, attr.log_buf = 1, size, ctypes.addressof(log)
        try:
            return bpf(Cmd.PROG_LOAD, attr, "BPF_PROG_LOAD")
        except BpfError as e:
            if e.errno == errno.ENOSPC and attr.log_true_size > size:
                size = attr.log_true_size + 4096
                continue
            text = log.value.decode("utf-8", "replace")
            if not text.strip() and e.errno == errno.EPERM and \
                    probe.expected_attach_type in FUNCTION_HOOKS:
                raise LoadError(_function_hooks_refused(probe)) from e
            if not text.strip() and e.errno == errno.EPERM:
                what = (f"{probe.expected_attach_type} ({probe.prog_type})"
                        if probe.expected_attach_type else probe.prog_type)
                text = ("the kernel refused the program without a verifier log (EPERM): "
                        f"{what} programs are disabled on this kernel")
            raise VerifierError(probe_display_name(probe), text, e.errno) from e
    raise VerifierError(probe_display_name(probe), "", errno.ENOSPC)


_BPF_LOG_STATS = 4            # verifier log level: only the closing statistics


def verifier_stats(probe: ProbeSpec, code: bytes, license: str = "GPL",
                   attach_btf_id: int = 0) -> str:
    """The verifier's statistics for a program that loads ("processed N insns ..."), for `-v`.
    Loads the program once more with BPF_LOG_STATS and closes it again."""
    import os
    if probe.prog_type == "tracing" and not attach_btf_id:
        attach_btf_id = _tracing_btf_id(probe)
    insns = ctypes.create_string_buffer(code, len(code))
    lic = ctypes.create_string_buffer(license.encode() + b"\0")
    log = ctypes.create_string_buffer(64 << 10)
    attr = _attr(probe, insns, lic, attach_btf_id)
    attr.log_level, attr.log_size, attr.log_buf = _BPF_LOG_STATS, len(log), ctypes.addressof(log)
    try:
        os.close(bpf(Cmd.PROG_LOAD, attr, "BPF_PROG_LOAD"))
    except BpfError as e:
        return f"(no statistics: {e})"
    return log.value.decode("utf-8", "replace").strip()


def prog_id(fd: int) -> int:
    """The kernel id of a loaded program (what `bpftool prog show` lists)."""
    info = ProgInfo()
    attr = ObjInfoAttr(bpf_fd=fd, info_len=ctypes.sizeof(info), info=ctypes.addressof(info))
    bpf(Cmd.OBJ_GET_INFO_BY_FD, attr, "BPF_OBJ_GET_INFO_BY_FD")
    return info.id
