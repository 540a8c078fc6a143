"""Programs compiled by bpftrace_compiler.pipeline and run by the Session for real."""
from __future__ import annotations

import os
import time

import pytest

from bpftrace_loader import events as ev
from bpftrace_loader.session import Session, end_action_ids
from bpftrace_loader.values import Stats

pytestmark = pytest.mark.root


def compile_source(text: str):
    from bpftrace_compiler.pipeline import compile_source as compile_
    return compile_(text)


def run(text: str, seconds: float = 2.0, workload=None):
    """Start, poll until exit() or `seconds`, stop; returns (events, maps by name)."""
    out = []
    with Session(compile_source(text)) as s:
        s.start()
        if workload:
            workload()
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            batch = s.poll(0.05)
            out.extend(batch)
            if any(isinstance(e, ev.Exit) for e in batch):
                break
        out.extend(s.stop())
        maps = {m.name: m.entries for m in s.snapshot()}
    return out, maps


def test_printf_and_exit_from_begin():
    events, _ = run('BEGIN { printf("hello %d %s\\n", 5, "x"); exit(); }')
    assert [type(e) for e in events] == [ev.Printf, ev.Exit]
    assert events[0].args == (5, "x")


def test_every_aggregation_reads_back():
    events, maps = run('BEGIN { @c = count(); @s[1, "a"] = sum(5); @s[1, "a"] = sum(-2); '
                       '@mn = min(-3); @mx = max(9); @a = avg(4); @a = avg(7); @st = stats(10); '
                       '@h = hist(1000); @l = lhist(15, 0, 100, 10); @t = (1, "two"); exit(); }')
    assert maps["@c"] == [((), 1)]
    assert maps["@s"] == [((1, "a"), 3)]
    assert maps["@mn"] == [((), -3)] and maps["@mx"] == [((), 9)]
    assert maps["@a"] == [((), Stats(2, 11))]
    assert maps["@st"] == [((), Stats(1, 10))]
    (key, buckets), = maps["@h"]
    assert sum(buckets.values()) == 1
    assert maps["@l"] == [((), {2: 1})]
    assert maps["@t"] == [((), (1, "two"))]


def test_print_clear_zero_run_in_order():
    events, maps = run('BEGIN { @x[1] = count(); @x[2] = count(); print(@x); clear(@x); print(@x);'
                       ' @y = count(); zero(@y); exit(); }')
    prints = [e.snapshot.entries for e in events if isinstance(e, ev.PrintMap)]
    assert sorted(prints[0]) == [((1,), 1), ((2,), 1)]
    assert prints[1] == []
    assert maps["@x"] == [] and maps["@y"] == [((), 0)]


def test_end_runs_after_exit_and_probe_names():
    events, _ = run('BEGIN { exit(); } END { printf("%s\\n", probe); }')
    assert [type(e) for e in events] == [ev.Exit, ev.Printf]
    assert events[1].args == ("END",)


def test_tracepoint_with_args_and_comm_key():
    path = "/tmp/pybpftrace-e2e-openat"

    def workload():
        for _ in range(3):
            try:
                os.open(path, os.O_RDONLY)
            except OSError:
                pass

    events, maps = run('tracepoint:syscalls:sys_enter_openat /pid == ' + str(os.getpid()) + '/ '
                       '{ @[comm] = count(); printf("%s\\n", str(args->filename)); }',
                       seconds=0.3, workload=workload)
    assert [e.args[0] for e in events if isinstance(e, ev.Printf)].count(path) == 3
    (key, n), = maps["@"]
    assert n >= 3


def test_interval_exit():
    t0 = time.monotonic()
    events, maps = run('interval:ms:100 { @n = count(); exit(); }', seconds=3)
    assert any(isinstance(e, ev.Exit) for e in events)
    assert 0.05 < time.monotonic() - t0 < 2.5
    assert maps["@n"] == [((), 1)]


def test_end_action_ids_follow_source_positions():
    p = compile_source('BEGIN { printf("a\\n"); }\ninterval:s:1 { printf("b\\n"); }\n'
                       'END { printf("c\\n"); printf("d\\n"); }')
    ids = end_action_ids(p)
    assert ids is not None
    assert sorted(a.fmt for a in p.actions if a.id in ids) == ["c\n", "d\n"]
