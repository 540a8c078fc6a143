"""Runs every guest case (tests/guest/cases.py) inside the guest kernel, once with bpftrace 0.17 and
once with pybpftrace, and prints one JSON document with what each run printed.

    guest/run-in-guest .venv/bin/python tests/guest/in_guest.py [CASE...]

For each case and tool: start the workload (tests/guest/workload.py), start the tracer, wait until
the kernel shows the case's attachments (kprobes in debugfs `kprobes/list`, kfunc/kretfunc as
BPF tracing links), let the workload run, end the tracer (its own exit() or SIGINT) and record stdout,
stderr, exit status and timings.  Judging happens on the host.  Progress goes to stderr.
Timeouts are about 20x what the same step takes on a normal kernel: the guest is emulated.
"""
from __future__ import annotations

import ctypes
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import cases as C  # noqa: E402  (this file runs as a script inside the guest)

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
PYTHON = str(ROOT / ".venv/bin/python") if (ROOT / ".venv/bin/python").exists() else sys.executable
TOOLS = {
    "bpftrace": lambda prog: [shutil.which("bpftrace") or "/usr/bin/bpftrace", "-e", prog],
    "pybpftrace": lambda prog: [PYTHON, "-m", "bpftrace_kernel.cli", "-e", prog],
}
ATTACH_TIMEOUT = 180.0   # bpftrace needs about 6-10 s here to parse BTF and attach
RUN_TIMEOUT = 120.0      # from the workload's end to the tracer's exit
KPROBE_LIST = Path("/sys/kernel/debug/kprobes/list")


def progress(msg: str) -> None:
    print(f"[guest {time.monotonic() - STARTED:6.1f}s] {msg}", file=sys.stderr, flush=True)


STARTED = time.monotonic()


# ---------------------------------------------------------------- attachment detection

def kprobe_count(kind: str, func: str) -> int:
    """Registered kprobes ("k") or kretprobes ("r") on func's entry."""
    try:
        text = KPROBE_LIST.read_text()
    except OSError:
        return 0
    return len(re.findall(rf"^\S+\s+{kind}\s+{re.escape(func)}\+0x0\b", text, re.M))


BPF_OBJ_GET_INFO_BY_FD, BPF_LINK_GET_FD_BY_ID, BPF_LINK_GET_NEXT_ID = 15, 30, 31
ATTACH_TYPES = {"trace_fentry": 24, "trace_fexit": 25}  # enum bpf_attach_type
_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def _bpf(cmd: int, attr: ctypes.Array) -> int:
    return _libc.syscall(ctypes.c_long(321), ctypes.c_int(cmd), attr, ctypes.c_uint(len(attr)))


def tracing_link_count(attach_type: str) -> int:
    """BPF tracing links of one attach type (trace_fentry / trace_fexit) in the whole system,
    walked with BPF_LINK_GET_NEXT_ID (what `bpftool link` shows, without its start-up cost)."""
    want, count, link_id = ATTACH_TYPES[attach_type], 0, 0
    while True:
        attr = ctypes.create_string_buffer(struct.pack("<I", link_id), 16)
        if _bpf(BPF_LINK_GET_NEXT_ID, attr) < 0:
            return count  # ENOENT: no more links
        link_id = struct.unpack_from("<II", attr.raw)[1]
        fd = _bpf(BPF_LINK_GET_FD_BY_ID, ctypes.create_string_buffer(struct.pack("<I", link_id), 16))
        if fd < 0:
            continue  # gone meanwhile
        try:
            info = ctypes.create_string_buffer(64)
            attr = ctypes.create_string_buffer(
                struct.pack("<IIQ", fd, len(info), ctypes.addressof(info)), 16)
            # struct bpf_link_info: type, id, prog_id, then (8-aligned) tracing.attach_type
            if _bpf(BPF_OBJ_GET_INFO_BY_FD, attr) == 0 and \
                    struct.unpack_from("<I", info.raw, 16)[0] == want:
                count += 1
        finally:
            os.close(fd)


def attachment_count(spec: str) -> int:
    kind, func = spec.split(":", 1)
    if kind == "kprobe":
        return kprobe_count("k", func)
    if kind == "kretprobe":
        return kprobe_count("r", func)
    if kind == "kfunc":
        return tracing_link_count("trace_fentry")
    if kind == "kretfunc":
        return tracing_link_count("trace_fexit")
    raise ValueError(f"unknown attachment {spec}")


def wait_attached(case: C.Case, baseline: dict[str, int], tracer: subprocess.Popen) -> str | None:
    """None once every attachment of the case exists, else why not (tracer died, timeout)."""
    deadline = time.monotonic() + ATTACH_TIMEOUT
    while time.monotonic() < deadline:
        if tracer.poll() is not None:
            return f"the tracer exited ({tracer.returncode}) before attaching"
        if all(attachment_count(s) > baseline[s] for s in case.ready):
            time.sleep(0.5)  # the probes listed after these may still be attaching
            return None
        time.sleep(0.25)
    return f"the attachments {case.ready} did not appear within {ATTACH_TIMEOUT:.0f} s"


# ---------------------------------------------------------------- one run

def start_workload(case: C.Case) -> tuple[subprocess.Popen, int]:
    args = ["reads", *map(str, C.READS)] if case.workload == "reads" else ["sleeper"]
    proc = subprocess.Popen([PYTHON, str(HERE / "workload.py"), *args], stdout=subprocess.PIPE,
                            stdin=subprocess.DEVNULL)
    line = proc.stdout.readline().decode().split()
    if line[:1] != ["ready"]:
        proc.kill()
        raise RuntimeError(f"workload did not start: {line}")
    return proc, int(line[1])


def run_case(case: C.Case, tool: str) -> dict:
    workload, wpid = start_workload(case)
    baseline = {s: attachment_count(s) for s in case.ready}
    began = time.monotonic()
    tracer = subprocess.Popen(TOOLS[tool](case.program), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    result = {"tool": tool, "workload_pid": wpid, "timed_out": False, "lane_error": None}
    try:
        if case.workload == "reads":
            why = wait_attached(case, baseline, tracer)
            result["attach_seconds"] = round(time.monotonic() - began, 2)
            if why is None:
                workload.send_signal(signal.SIGUSR1)
                done = workload.stdout.readline().decode()
                if not done.startswith("done"):
                    result["lane_error"] = f"workload ended early: {done!r}"
                if case.end == "sigint" and tracer.poll() is None:
                    time.sleep(1.0)  # let the tracer drain its output buffers, as a user would
                    tracer.send_signal(signal.SIGINT)
            elif tracer.poll() is None:
                result["lane_error"] = why
                tracer.send_signal(signal.SIGINT)
        try:
            out, err = tracer.communicate(timeout=RUN_TIMEOUT if case.workload == "reads"
                                          else ATTACH_TIMEOUT)
        except subprocess.TimeoutExpired:
            result["timed_out"] = True
            tracer.kill()
            out, err = tracer.communicate()
    finally:
        if tracer.poll() is None:
            tracer.kill()
            tracer.wait()
        workload.kill()
        workload.wait()
    result.update(stdout=out.decode(errors="replace"), stderr=err.decode(errors="replace"),
                  rc=tracer.returncode, seconds=round(time.monotonic() - began, 2))
    return result


# Imported once in the background while bpftrace runs the first case: the guest reads the host's
# files through 9p, and the first pybpftrace start-up would otherwise pay for reading them.
WARM_UP = """import importlib
for name in ("llvmlite.binding", "lark", "bpftrace_compiler.pipeline", "bpftrace_loader.session",
             "bpftrace_kernel.engine", "bpftrace_kernel.cli"):
    try:
        importlib.import_module(name)
    except Exception:
        pass
"""


def main(argv: list[str]) -> int:
    chosen = [C.BY_NAME[n] for n in argv] if argv else list(C.CASES)
    report = {"kernel": os.uname().release, "cases": {}}
    warm = subprocess.Popen([PYTHON, "-c", WARM_UP], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for case in chosen:
        report["cases"][case.name] = {}
        for tool in TOOLS:
            if tool == "pybpftrace" and warm.poll() is None:
                try:
                    warm.wait(timeout=ATTACH_TIMEOUT)
                except subprocess.TimeoutExpired:
                    warm.kill()
            progress(f"{case.name}: {tool}")
            try:
                res = run_case(case, tool)
            except (OSError, RuntimeError) as exc:
                res = {"tool": tool, "lane_error": str(exc), "stdout": "", "stderr": "", "rc": None,
                       "timed_out": False, "seconds": 0.0, "workload_pid": None}
            progress(f"{case.name}: {tool} exited {res['rc']} in {res['seconds']} s"
                     + (f" ({res['lane_error']})" if res["lane_error"] else ""))
            report["cases"][case.name][tool] = res
    report["seconds"] = round(time.monotonic() - STARTED, 1)
    json.dump(report, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
