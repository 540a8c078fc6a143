"""One tracer process under observation: start, attachment, first event, output, exit.

Everything is observed from outside the tracer:
- attachment by polling its fds with BPF_TASK_FD_QUERY (and the
  __BPFTRACE_NOTIFY_PROBES_ATTACHED token, which both tracers print on stderr);
- the first event by polling run_cnt of its attached programs (BPF stats must be enabled);
- exit time and peak RSS with wait4() on the process.
"""
from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field

import bpfstats
from tracers import TRACERS

NOTIFY = "__BPFTRACE_NOTIFY_PROBES_ATTACHED"
POLL = 0.004


class SessionError(RuntimeError):
    """The tracer failed to start, attach or exit in time."""


@dataclass
class Output:
    """A pipe's content with the time of its first and last chunk."""

    chunks: list[bytes] = field(default_factory=list)
    first: float | None = None
    last: float | None = None
    lines: int = 0
    keep: bool = True

    def text(self) -> str:
        return b"".join(self.chunks).decode("utf-8", errors="replace")


class TracerSession:
    """A running tracer.  Times are seconds since `started` (time.monotonic based)."""

    def __init__(self, tracer: str, args: list[str], env: dict | None = None,
                 keep_stdout: bool = True, watch_fds: bool = True, cache_dir: str | None = None):
        """`cache_dir` becomes XDG_CACHE_HOME: a fresh empty one makes a cold start (no
        on-disk compile or symbol cache from an earlier run)."""
        self.tracer = tracer
        self.argv = TRACERS[tracer] + args
        self.env = dict(os.environ, **{NOTIFY: "1"}, **(env or {}))
        if cache_dir is not None:
            self.env["XDG_CACHE_HOME"] = cache_dir
        self.stdout = Output(keep=keep_stdout)
        self.stderr = Output()
        self.notified: float | None = None
        self.attach_timeline: list[tuple[float, int]] = []   # (time, number of attached fds)
        self.prog_ids: set[int] = set()
        self.first_event: float | None = None
        self.exited: float | None = None
        self.status: int | None = None
        self.rusage = None
        self._watch_fds = watch_fds
        self._hwm_kb: dict[int, int] = {}        # pid -> VmHWM, for the tracer and its children
        self._stop_watch = threading.Event()
        self._exit_event = threading.Event()
        self._notify_event = threading.Event()

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> "TracerSession":
        self.started = time.monotonic()
        try:
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE, env=self.env, start_new_session=True)
        except OSError as exc:
            raise SessionError(f"cannot start {self.argv[0]}: {exc}") from exc
        self.pid = self.proc.pid
        threads = [threading.Thread(target=self._read, args=(self.proc.stdout, self.stdout, False)),
                   threading.Thread(target=self._read, args=(self.proc.stderr, self.stderr, True)),
                   threading.Thread(target=self._reap), threading.Thread(target=self._watch)]
        for t in threads:
            t.daemon = True
            t.start()
        self._threads = threads
        return self

    def now(self) -> float:
        return time.monotonic() - self.started

    def wait_attached(self, timeout: float, settle: float = 0.25) -> float:
        """Wait for the notify token, then for the attached-fd count to settle.

        Returns the notify time; raises SessionError if the tracer exits or times out first.
        """
        deadline = time.monotonic() + timeout
        while not self._notify_event.is_set():
            if self._exit_event.is_set():
                raise SessionError(f"exited with status {self.status} before attaching: "
                                   f"{self.stderr_tail()}")
            if time.monotonic() > deadline:
                raise SessionError(f"no {NOTIFY} within {timeout:g} s")
            self._notify_event.wait(0.01)
        if self._watch_fds:
            # the count must stop changing for `settle` seconds
            while time.monotonic() < deadline:
                last_change = self.attach_timeline[-1][0] if self.attach_timeline else 0.0
                if self.now() - max(last_change, self.notified) >= settle:
                    break
                time.sleep(0.02)
        return self.notified

    def attached_by_fds(self) -> float | None:
        """When the attached-fd count first reached its final value (None: no fd attached)."""
        if not self.attach_timeline:
            return None
        final = self.attach_timeline[-1][1]
        if final == 0:
            return None
        return next(t for t, n in self.attach_timeline if n == final)

    def attached_count(self) -> int:
        return self.attach_timeline[-1][1] if self.attach_timeline else 0

    def sigint_and_wait(self, timeout: float) -> float:
        """Send SIGINT; returns seconds until the process is gone."""
        sent = self.now()
        self._stop_watch.set()
        self.proc.send_signal(signal.SIGINT)
        if not self._exit_event.wait(timeout):
            self.kill()
            raise SessionError(f"did not exit within {timeout:g} s of SIGINT")
        return self.exited - sent

    def wait_exit(self, timeout: float) -> float:
        """Wait for the tracer to exit by itself; returns its exit time."""
        if not self._exit_event.wait(timeout):
            self.kill()
            raise SessionError(f"did not exit within {timeout:g} s")
        self._stop_watch.set()
        return self.exited

    def kill(self) -> None:
        """SIGKILL the tracer's process group (it runs in its own session)."""
        self._stop_watch.set()
        if not self._exit_event.is_set():
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self._exit_event.wait(30)

    def close(self) -> None:
        self.kill()
        for t in self._threads:
            t.join(5)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    # ------------------------------------------------------------------ observations
    def peak_rss_kb(self) -> int | None:
        """Peak RSS of the tracer's process tree: wait4's ru_maxrss, or the sum of the sampled
        VmHWM of the tracer and its children (a compile worker...) when that is larger."""
        own = self.rusage.ru_maxrss if self.rusage else 0
        return max(own, sum(self._hwm_kb.values())) or None

    def cpu_seconds(self) -> float | None:
        """CPU time of the tracer's process tree so far: utime + stime of every live process
        in it, plus the tracer's cutime + cstime (children it has already reaped)."""
        ticks = os.sysconf("SC_CLK_TCK")
        total, todo, root = 0, [self.pid], True
        while todo:
            pid = todo.pop()
            try:
                fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])
                if root:
                    total += int(fields[13]) + int(fields[14])
                for task in os.listdir(f"/proc/{pid}/task"):
                    todo += [int(c) for c in open(f"/proc/{pid}/task/{task}/children").read().split()]
            except (OSError, ValueError, IndexError):
                if root:
                    return None
            root = False
        return total / ticks

    def prog_stats(self) -> list[bpfstats.ProgInfo]:
        infos = [bpfstats.prog_info(pid, with_insns=True) for pid in sorted(self.prog_ids)]
        return [i for i in infos if i is not None]

    def run_totals(self) -> tuple[int, int]:
        """(sum run_time_ns, sum run_cnt) over the attached programs."""
        time_ns = cnt = 0
        for pid in self.prog_ids:
            info = bpfstats.prog_info(pid, with_insns=False)
            if info:
                time_ns += info.run_time_ns
                cnt += info.run_cnt
        return time_ns, cnt

    def stderr_tail(self, lines: int = 3) -> str:
        text = [line for line in self.stderr.text().splitlines()
                if "RLIMIT_MEMLOCK" not in line and NOTIFY not in line]
        return " | ".join(text[-lines:])

    # ------------------------------------------------------------------ threads
    def _read(self, pipe, out: Output, watch_notify: bool) -> None:
        tail = b""
        for chunk in iter(lambda: pipe.read1(1 << 16), b""):
            now = self.now()
            if out.first is None:
                out.first = now
            out.last = now
            out.lines += chunk.count(b"\n")
            if out.keep:
                out.chunks.append(chunk)
            if watch_notify and self.notified is None:
                tail = (tail + chunk)[-100:]
                if NOTIFY.encode() in tail:
                    self.notified = now
                    self._notify_event.set()
        pipe.close()

    def _reap(self) -> None:
        _, status, rusage = os.wait4(self.pid, 0)
        self.exited = self.now()
        self.status = os.waitstatus_to_exitcode(status)
        self.proc.returncode = self.status
        self.rusage = rusage
        self._exit_event.set()

    def _sample_hwm(self) -> None:
        todo = [self.pid]
        while todo:
            pid = todo.pop()
            try:
                for line in open(f"/proc/{pid}/status"):
                    if line.startswith("VmHWM:"):
                        self._hwm_kb[pid] = max(self._hwm_kb.get(pid, 0), int(line.split()[1]))
                for task in os.listdir(f"/proc/{pid}/task"):
                    todo += [int(c) for c in open(f"/proc/{pid}/task/{task}/children").read().split()]
            except (OSError, ValueError):
                pass

    def _watch(self) -> None:
        known: dict[int, int] = {}
        next_hwm = 0.0
        while not self._exit_event.is_set():
            if self.now() >= next_hwm:
                self._sample_hwm()
                next_hwm = self.now() + 0.025
            if self._stop_watch.is_set() or not self._watch_fds:
                time.sleep(POLL)
                continue
            known = bpfstats.attached_programs(self.pid, known)
            now = self.now()
            if not self.attach_timeline or self.attach_timeline[-1][1] != len(known):
                self.attach_timeline.append((now, len(known)))
                ids = set(known.values())
                if bpfstats.PERF_EVENT_PROG in ids:
                    ids.discard(bpfstats.PERF_EVENT_PROG)
                    ids |= bpfstats.perf_event_programs(self.pid)
                self.prog_ids = ids
            if self.first_event is None and self.prog_ids:
                for pid in list(self.prog_ids)[:64]:
                    info = bpfstats.prog_info(pid, with_insns=False)
                    if info and info.run_cnt > 0:
                        self.first_event = self.now()
                        break
            time.sleep(POLL)
