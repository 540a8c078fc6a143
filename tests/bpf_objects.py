"""Test helper: which BPF programs of ours are loaded right now (via `bpftool prog show -j`).

Our loader names every program with the `pbt_` prefix, so tests can tell ours from the
system's and from bpftrace's while other tracers run on the machine.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import time

PREFIX = "pbt_"


def our_programs() -> list[dict]:
    if not shutil.which("bpftool"):
        raise RuntimeError("bpftool is not installed (apt-get install bpftool)")
    out = subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, text=True,
                         timeout=30).stdout
    progs = json.loads(out or "[]")
    return [p for p in progs if p.get("name", "").startswith(PREFIX)]


def wait_until_none_of(pids_before: set[int], timeout: float = 5.0) -> list[dict]:
    """Our programs not present in `pids_before` that are still loaded after `timeout`
    (the kernel frees programs asynchronously after the last fd closes)."""
    deadline = time.monotonic() + timeout
    while True:
        left = [p for p in our_programs() if p["id"] not in pids_before]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


# ---------------------------------------------------------------------- per-process objects
# The fault-injection tests record exactly which kernel objects a tracer process holds (its
# /proc/<pid>/fdinfo) and which processes it started, then check those are gone after it
# ends or is killed.  Per-process, so tracers that other tests run meanwhile never confuse it.

_FDINFO_IDS = {"map_id": "map", "prog_id": "prog", "link_id": "link"}


def held_objects(pid: int) -> dict[str, set[int]]:
    """{'map': ids, 'prog': ids, 'link': ids, 'perf_event': fd count} held by `pid` now."""
    held: dict[str, set[int]] = {"map": set(), "prog": set(), "link": set(), "perf_event": set()}
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return held
    for fd in fds:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                info = f.read()
        except OSError:
            continue
        if target == "anon_inode:[perf_event]":
            held["perf_event"].add(int(fd))
        if not target.startswith("anon_inode:bpf"):
            continue
        kind = {"anon_inode:bpf-map": "map", "anon_inode:bpf-prog": "prog",
                "anon_inode:bpf_link": "link"}.get(target)
        for line in info.splitlines():
            key, _, value = line.partition(":")
            if key == f"{kind}_id":
                held[kind].add(int(value))
    return held


def live_ids(kind: str) -> set[int]:
    """Ids of every loaded BPF object of `kind` ('map', 'prog', 'link') on the machine."""
    out = subprocess.run(["bpftool", "-j", kind, "show"], capture_output=True, text=True,
                         timeout=30).stdout
    return {o["id"] for o in json.loads(out or "[]")}


def still_alive(held: dict[str, set[int]], timeout: float = 5.0) -> dict[str, set[int]]:
    """The maps, programs and links of `held` still loaded after `timeout` (the kernel
    frees them asynchronously after the last reference goes)."""
    deadline = time.monotonic() + timeout
    while True:
        left = {k: held.get(k, set()) & live_ids(k) for k in ("map", "prog", "link")}
        left = {k: v for k, v in left.items() if v}
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


def descendants(pid: int) -> set[int]:
    """Every live process below `pid` (children, grandchildren, ...)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def alive(pids: set[int], timeout: float = 5.0) -> set[int]:
    """The processes of `pids` still running (not zombies) after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        left = set()
        for p in pids:
            try:
                with open(f"/proc/{p}/stat") as f:
                    if f.read().rsplit(")", 1)[1].split()[0] != "Z":
                        left.add(p)
            except OSError:
                pass
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


def assert_nothing_left(held: dict[str, set[int]], children: set[int]) -> None:
    """Every kernel object in `held` is gone and no process in `children` still runs."""
    left = still_alive(held)
    assert not left, f"kernel objects still loaded: {left}"
    running = alive(children)
    assert not running, f"child processes still running: {running}"
