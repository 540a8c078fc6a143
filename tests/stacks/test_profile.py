"""Profiling the seed's way on the real kernel: a 99 Hz profile of the chain program shows
main -> outer -> middle -> leaf in ustack output, folded stacks and the flame graph HTML;
kernel stacks symbolise to kernel functions; stack formats match bpftrace 0.17 byte for byte."""
from __future__ import annotations

import json
import re
import subprocess

import pytest

from .conftest import PYBPFTRACE, need_bpftrace, run_tracer

pytestmark = pytest.mark.root

CHAIN = ["leaf", "middle", "outer", "main"]


def _stack_blocks(text: str) -> list[tuple[list[str], int]]:
    """(frames, count) of every `@[\\n    frame\\n...]: N` entry of a stack map."""
    blocks = []
    for body, count in re.findall(r"@\[\n(.*?)\n\]: (\d+)", text, re.S):
        blocks.append(([ln.strip() for ln in body.splitlines()], int(count)))
    return blocks


def _names(frames: list[str]) -> list[str]:
    return [re.sub(r"\+\d+$", "", f) for f in frames]


def test_profile_ustack_shows_the_call_chain(spinning):
    pid, _ = spinning
    out = run_tracer(PYBPFTRACE, f"profile:hz:99 /pid == {pid}/ {{ @[ustack] = count(); }} "
                                 "interval:ms:1500 { exit(); }").stdout
    frames, count = max(_stack_blocks(out), key=lambda b: b[1])
    assert _names(frames)[:4] == CHAIN
    assert count >= 20          # the program spins most of the time: ~99 samples a second
    assert all(re.fullmatch(r"[\w.]+\+\d+", f) for f in frames[:4])


def test_flame_graph_files_show_the_chain(spinning, tmp_path):
    pid, _ = spinning
    prog = f"profile:hz:99 /pid == {pid}/ {{ @[comm, ustack] = count(); }} interval:ms:1200 {{ exit(); }}"
    folded = tmp_path / "chain.folded"
    run_tracer(PYBPFTRACE, prog, "--flamegraph", str(folded))
    lines = folded.read_text().splitlines()
    top = max(lines, key=lambda ln: int(ln.rsplit(" ", 1)[1]))
    assert top.startswith("chain;") and top.rsplit(" ", 1)[0].endswith("main;outer;middle;leaf")
    assert all(re.fullmatch(r"[^ ]+( [^ ]+)* \d+", ln) for ln in lines)

    page = tmp_path / "chain.html"
    run_tracer(PYBPFTRACE, prog, "--flamegraph", str(page))
    html = page.read_text()
    for name in CHAIN:
        assert re.search(rf'title="{name} \([\d,]+ samples', html), name
    assert "<script" not in html and "http://" not in html.replace("http://www.w3.org", "")
    assert "https://" not in html


def test_flame_graph_format_option_writes_speedscope(spinning, tmp_path):
    pid, _ = spinning
    out = tmp_path / "profile.data"
    run_tracer(PYBPFTRACE, f"profile:hz:99 /pid == {pid}/ {{ @[ustack] = count(); }} "
                           "interval:ms:800 { exit(); }",
               "--flamegraph", str(out), "--flamegraph-format", "speedscope")
    doc = json.loads(out.read_text())
    frames = [f["name"] for f in doc["shared"]["frames"]]
    prof = doc["profiles"][0]
    heaviest = max(zip(prof["samples"], prof["weights"]), key=lambda s: s[1])[0]
    assert [frames[i] for i in heaviest][-4:] == ["main", "outer", "middle", "leaf"]
    assert prof["endValue"] == sum(prof["weights"])


def test_flame_graph_usage_errors(tmp_path):
    for extra in (["--flamegraph", str(tmp_path / "x.bin")],
                  ["--flamegraph", str(tmp_path / "x.html"), "--flamegraph-format", "gif"],
                  ["--flamegraph-format", "svg"]):
        proc = subprocess.run([*PYBPFTRACE, *extra, "-e", "BEGIN { exit(); }"],
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 1
        assert proc.stderr.startswith("ERROR: ") and "Traceback" not in proc.stderr


def test_user_stack_formats_match_bpftrace(spinning):
    """uprobe on leaf, once: printf/print/map keys of ustack in both modes, with comm."""
    need_bpftrace()
    pid, binary = spinning
    prog = (f"uprobe:{binary}:leaf /pid == {pid} && @once == 0/ {{ @once = 1; "
            'printf("%s|%s|\\n", ustack(3), ustack(perf, 2)); print(ustack(1)); '
            "@[ustack(3), comm] = count(); @k[kstack(3), comm] = count(); "
            "@p[ustack(perf)] = count(); exit(); }")
    ours = run_tracer(PYBPFTRACE, prog).stdout
    ref = run_tracer(["bpftrace"], prog).stdout
    assert ours == ref
    assert "\n        leaf+0\n        middle+" in ours
    assert re.search(rf"\t[0-9a-f]+ leaf\+0 \({re.escape(str(binary))}\)\n", ours)
    assert "@k[, chain]: 1" in ours


def test_kernel_stack_formats_match_bpftrace(spinning):
    """Kernel stacks at the program's clock_nanosleep, once: printf, keys with comm, perf mode."""
    need_bpftrace()
    pid, _ = spinning
    prog = (f"tracepoint:syscalls:sys_enter_clock_nanosleep /pid == {pid} && @once == 0/ {{ "
            '@once = 1; printf("%s|\\n", kstack(3)); @[kstack(4), comm] = count(); '
            "@p[kstack(perf, 2)] = count(); @b[kstack(bpftrace, 3)] = count(); exit(); }")
    ours = run_tracer(PYBPFTRACE, prog).stdout
    ref = run_tracer(["bpftrace"], prog).stdout
    assert ours == ref


def test_kernel_stacks_symbolise_to_kernel_functions(spinning):
    """Off-CPU: sched_switch kernel stacks of the sleeping program name real kernel functions."""
    pid, _ = spinning
    out = run_tracer(PYBPFTRACE, f"tracepoint:sched:sched_switch /pid == {pid}/ "
                                 "{ @[kstack] = count(); } interval:ms:800 { exit(); }").stdout
    with open("/proc/kallsyms") as f:
        kernel_functions = {line.split()[2] for line in f}
    frames = [f for block, _ in _stack_blocks(out) for f in block]
    assert frames, out
    assert all(name in kernel_functions for name in _names(frames))
    assert any(name == "schedule" for name in _names(frames))


def test_exited_process_keeps_its_symbols(chain_binary):
    """The maps print after the -c child exited: its PIE frames resolve from the cache
    (bpftrace 0.17 prints raw addresses there)."""
    out = run_tracer(PYBPFTRACE, "profile:hz:99 /pid == cpid/ { @[ustack(4)] = count(); }",
                     "-c", f"{chain_binary} 0.8").stdout
    frames, _ = max(_stack_blocks(out), key=lambda b: b[1])
    assert _names(frames) == CHAIN


def test_symbol_functions_match_bpftrace(spinning):
    """usym/ksym/kaddr/uaddr/reg in a uprobe, in printf and as map keys; uaddr takes data
    symbols only (a function name is bpftrace's "Could not resolve symbol")."""
    need_bpftrace()
    pid, binary = spinning
    prog = (f"uprobe:{binary}:leaf /pid == {pid} && @once == 0/ {{ @once = 1; "
            'printf("%s %s %x|%s|%s\\n", usym(reg("ip")), ksym(kaddr("vfs_read")), '
            'uaddr("sink"), ksym(0), usym(uaddr("sink"))); '
            '@u[usym(reg("ip")), ksym(kaddr("vfs_write"))] = count(); exit(); }')
    ours = run_tracer(PYBPFTRACE, prog).stdout
    assert ours == run_tracer(["bpftrace"], prog).stdout
    assert "leaf vfs_read " in ours and "@u[leaf, vfs_write]: 1" in ours
    bad = f'uprobe:{binary}:leaf {{ printf("%x\\n", uaddr("middle")); exit(); }}'
    runs = [subprocess.run([*argv, "-e", bad], capture_output=True, text=True, timeout=60)
            for argv in (PYBPFTRACE, ["bpftrace"])]
    assert runs[0].returncode == runs[1].returncode == 1
    ref_err = "".join(ln + "\n" for ln in runs[1].stderr.splitlines() if "RLIMIT" not in ln)
    assert runs[0].stderr == ref_err
