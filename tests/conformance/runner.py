"""Runs one conformance case under one tracer and captures what a user would see.

The tracer is started with `__BPFTRACE_NOTIFY_PROBES_ATTACHED=1`; the case's workload starts
only once that token appears on the tracer's stderr, so every tracer sees the same events.
The case then ends the way it says (the program's own exit(), usually triggered by the
workload's marker system call, or a SIGINT after the workload).  Every wait has a timeout;
a tracer that hangs is interrupted, then killed.
"""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from .case import Case

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:        # `tests.workloads` must import however pytest was started
    sys.path.insert(0, str(ROOT))
BUILD_DIR = ROOT / "tests" / "_build"
NOTIFY_TOKEN = "__BPFTRACE_NOTIFY_PROBES_ATTACHED"
RLIMIT_NOISE = "couldn't set RLIMIT_MEMLOCK"

TRACERS: dict[str, list[str]] = {
    "bpftrace": ["bpftrace"],
    "pybpftrace": [str(ROOT / ".venv" / "bin" / "pybpftrace")],
}


@dataclass
class RunResult:
    """What one tracer produced for one case."""

    tracer: str
    stdout: str = ""
    stderr: str = ""            # without the RLIMIT_MEMLOCK noise and the notify token
    output_file: str | None = None  # the -o file's content, for cases that use one
    returncode: int | None = None
    attached: bool = False
    timed_out: bool = False
    workload_pid: int | None = None
    problem: str | None = None   # a harness-level failure (tracer missing, workload failed)
    seconds: float = 0.0


class RunNames:
    """The unique names of one run: the workload's comm and the link cfexec is exec'd through.

    They have the length of the canonical names ("cfwork", "cfexec") and use no hex digits, so
    mapping them back in the output changes nothing else.
    """

    ALPHABET = "ghjkmnpqrstvwxyz"

    def __init__(self) -> None:
        pick = lambda: "".join(random.choice(self.ALPHABET) for _ in range(4))  # noqa: E731
        self.comm = "cf" + pick()
        self.exec_name = "ce" + pick()
        self.exec_link: Path | None = None
        self.pid: int | None = None          # the workload's, for workload_first cases

    def substitute(self, text: str) -> str:
        """Replace {{CFWORK}}, {{CFEXEC}}, {{BUILD}}, {{COMM}}, {{EXEC}} and {{PID}} placeholders."""
        from tests.workloads import build

        if "{{" not in text:
            return text
        if "{{CFWORK}}" in text:
            text = text.replace("{{CFWORK}}", str(build.binary("cfwork")))
        if "{{CFEXEC}}" in text:
            text = text.replace("{{CFEXEC}}", str(self._link(build.binary("cfexec"))))
        text = text.replace("{{PID}}", str(self.pid))
        return (text.replace("{{BUILD}}", str(BUILD_DIR)).replace("{{COMM}}", self.comm)
                .replace("{{EXEC}}", self.exec_name))

    def canonical(self, text: str) -> str:
        """Map this run's unique names back to "cfwork" / "cfexec"."""
        return text.replace(self.comm, "cfwork").replace(self.exec_name, "cfexec")

    def _link(self, target: Path) -> Path:
        if self.exec_link is None:
            self.exec_link = BUILD_DIR / self.exec_name
            self.exec_link.unlink(missing_ok=True)
            self.exec_link.symlink_to(target)
        return self.exec_link

    def cleanup(self) -> None:
        if self.exec_link is not None:
            self.exec_link.unlink(missing_ok=True)


def tracer_command(case: Case, tracer: str, names: RunNames) -> tuple[list[str], Path | None]:
    """The argv for `tracer` on `case`, and the -o file it will write (if any)."""
    substitute = names.substitute
    argv = list(TRACERS[tracer])
    out_file = None
    flags = [substitute(f) for f in case.flags]
    if case.output_file:
        out_file = BUILD_DIR / "conformance" / f"{case.name}.{tracer}.{names.comm}.out"
        out_file.parent.mkdir(parents=True, exist_ok=True)
        if out_file.exists():
            out_file.unlink()
        flags += ["-o", str(out_file)]
    program = substitute(case.program)
    if case.program_file:
        path = BUILD_DIR / "conformance" / f"{case.name}.bt"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{names.comm}.tmp")   # atomic: a concurrent run may be reading it
        tmp.write_text(program)
        tmp.replace(path)
        argv += flags + [str(path)]
    elif case.listing is not None:
        argv += flags + [substitute(case.listing)]
    else:
        argv += flags + ["-e", program]
    argv += [substitute(a) for a in case.args]
    return argv, out_file


class _Reader(threading.Thread):
    """Collects a pipe's bytes; signals when the notify token has been seen."""

    def __init__(self, pipe, watch: bool):
        super().__init__(daemon=True)
        self.pipe = pipe
        self.watch = watch
        self.chunks: list[bytes] = []
        self.seen = threading.Event()

    def run(self) -> None:
        tail = b""
        for chunk in iter(lambda: self.pipe.read1(65536), b""):
            self.chunks.append(chunk)
            if self.watch and not self.seen.is_set():
                tail = (tail + chunk)[-200:]
                if NOTIFY_TOKEN.encode() in tail:
                    self.seen.set()
        self.pipe.close()

    def text(self) -> str:
        return b"".join(self.chunks).decode("utf-8", errors="backslashreplace")


def filter_stderr(text: str) -> str:
    """Drop bpftrace's RLIMIT_MEMLOCK noise and the notify token line."""
    keep = [line for line in text.splitlines(keepends=True)
            if RLIMIT_NOISE not in line and line.strip() != NOTIFY_TOKEN]
    return "".join(keep)


def run_case(case: Case, tracer: str) -> RunResult:
    """Run `case` under `tracer` ("bpftrace" or "pybpftrace") and capture its output."""
    result = RunResult(tracer=tracer)
    names = RunNames()
    try:
        return _run(case, tracer, names, result)
    finally:
        names.cleanup()


def _run(case: Case, tracer: str, names: RunNames, result: RunResult) -> RunResult:
    started = time.monotonic()
    early = None
    try:
        workload = [names.substitute(w) for w in case.workload] if case.workload else None
        if case.workload_first:
            early = _start_waiting_workload(workload)
            names.pid = early.pid
            result.workload_pid = early.pid
        argv, out_file = tracer_command(case, tracer, names)
    except Exception as exc:  # a workload that does not build or start
        result.problem = f"setup failed: {exc}"
        if early is not None:
            early.kill()
            early.wait()
        return result
    env = dict(os.environ, **{NOTIFY_TOKEN: "1"}, **case.env)
    BUILD_DIR.mkdir(parents=True, exist_ok=True)
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=env, cwd=BUILD_DIR,
                                start_new_session=True)
    except OSError as exc:
        result.problem = f"cannot start {argv[0]}: {exc}"
        return result
    out = _Reader(proc.stdout, watch=False)
    err = _Reader(proc.stderr, watch=True)
    out.start()
    err.start()
    try:
        _drive(case, proc, err, early or workload, result)
    finally:
        if early is not None and early.poll() is None:
            early.kill()
            early.wait()
        if proc.poll() is None:
            _stop(proc, result)
        out.join(5)
        err.join(5)
        result.returncode = proc.returncode
        result.stdout = names.canonical(out.text())
        result.stderr = names.canonical(filter_stderr(err.text()))
        if out_file is not None and out_file.exists():
            result.output_file = names.canonical(out_file.read_text(errors="backslashreplace"))
            out_file.unlink()
        result.seconds = time.monotonic() - started
    return result


def _drive(case: Case, proc: subprocess.Popen, err: _Reader, workload, result: RunResult) -> None:
    deadline = time.monotonic() + case.attach_timeout
    while not err.seen.is_set() and proc.poll() is None and time.monotonic() < deadline:
        err.seen.wait(0.02)
    result.attached = err.seen.is_set()
    if proc.poll() is not None:
        return                       # finished (or failed) before or right after attaching
    if not result.attached:
        result.timed_out = True
        result.problem = f"no {NOTIFY_TOKEN} within {case.attach_timeout:g} s"
        return
    if workload:
        try:
            if isinstance(workload, subprocess.Popen):     # started first, waiting for SIGUSR1
                wl = workload
                wl.send_signal(signal.SIGUSR1)
            else:
                wl = subprocess.Popen(workload, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.PIPE, cwd=BUILD_DIR)
            result.workload_pid = wl.pid
            _, wl_err = wl.communicate(timeout=case.timeout)
            if wl.returncode != 0:
                result.problem = f"workload exited {wl.returncode}: {wl_err.decode(errors='replace')}"
        except subprocess.TimeoutExpired:
            wl.kill()
            wl.wait()
            result.problem = "workload timed out"
    if case.end == "sigint":
        time.sleep(case.settle)
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=case.timeout)
    except subprocess.TimeoutExpired:
        result.timed_out = True


def _start_waiting_workload(argv: list[str]) -> subprocess.Popen:
    """Start a workload whose first operation is W; return once it waits for SIGUSR1."""
    wl = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, cwd=BUILD_DIR)
    ready = threading.Event()
    threading.Thread(target=lambda: ready.set() if wl.stdout.readline() == b"W\n" else None,
                     daemon=True).start()
    if ready.wait(5):
        return wl
    wl.kill()
    wl.wait()
    raise RuntimeError("the workload did not reach its W operation")


def _stop(proc: subprocess.Popen, result: RunResult) -> None:
    """SIGINT (so END runs and maps print), then SIGKILL the whole process group."""
    result.timed_out = True
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)
