"""The kernel with the real engine on this machine's kernel: streaming, interrupt with
nothing left loaded, bpftrace's error text, rich map output."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import time

import pytest
from jupyter_client.manager import start_new_kernel

from harness import REAL, of_type, run_cell, stream_text

pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def kernel():
    km, kc = start_new_kernel(kernel_name=REAL, startup_timeout=60)
    yield km, kc
    kc.stop_channels()
    km.shutdown_kernel(now=True)


def _held_prog_ids(pid: int) -> set[int]:
    """BPF program ids the process holds file descriptors for."""
    ids = set()
    for fd in os.listdir(f"/proc/{pid}/fdinfo"):
        try:
            with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                for line in f:
                    if line.startswith("prog_id:"):
                        ids.add(int(line.split()[1]))
        except OSError:
            pass
    return ids


def _loaded_prog_ids() -> set[int]:
    out = subprocess.run(["bpftool", "prog", "show", "-j"], capture_output=True, text=True, timeout=30)
    return {p["id"] for p in json.loads(out.stdout or "[]")}


def test_printf_streams_while_the_trace_runs(kernel):
    _, kc = kernel
    code = 'interval:ms:200 { printf("tick\\n"); } interval:ms:1500 { exit(); }'
    reply, msgs = run_cell(kc, code, timeout=60)
    assert reply["status"] == "ok", reply
    ticks = [m for m in of_type(msgs, "stream") if "tick" in m["content"]["text"]]
    assert stream_text(msgs).count("tick\n") >= 5
    last = msgs[-1]["_t"]
    assert last - ticks[0]["_t"] > 0.7, "the first lines arrive well before the cell ends"


@pytest.mark.skipif(shutil.which("bpftool") is None, reason="bpftool is not installed")
def test_interrupt_prints_maps_replies_ok_and_detaches_everything(kernel):
    km, kc = kernel
    kpid = km.provisioner.process.pid
    held: set[int] = set()

    def during(m):
        if m["msg_type"] == "display_data" and not held:
            time.sleep(0.8)
            held.update(_held_prog_ids(kpid))
            km.interrupt_kernel()

    code = "tracepoint:raw_syscalls:sys_enter { @[comm] = count(); } END { printf(\"end ran\\n\"); }"
    reply, msgs = run_cell(kc, code, during=during, timeout=60)
    assert reply["status"] == "ok", reply
    assert held, "the running trace held BPF programs"
    maps = [m for m in of_type(msgs, "display_data", "update_display_data")
            if m["content"]["data"]["text/plain"].startswith("@[")]
    assert maps and "end ran" in stream_text(msgs)
    assert "stopped by interrupt" in of_type(msgs, "update_display_data")[-1]["content"]["data"]["text/plain"]
    assert not _held_prog_ids(kpid)
    assert not held & _loaded_prog_ids(), "bpftool still lists the cell's programs"
    reply, msgs = run_cell(kc, 'BEGIN { printf("again\\n"); exit(); }', timeout=60)
    assert reply["status"] == "ok" and "again" in stream_text(msgs)


@pytest.mark.bpftrace
def test_compile_error_is_bpftraces_text_and_the_next_cell_works(kernel):
    _, kc = kernel
    code = "BEGIN { foo(1); }"
    ref = subprocess.run(["bpftrace", "-e", code], capture_output=True, text=True, timeout=30)
    expected = "".join(ln + "\n" for ln in ref.stderr.splitlines() if "RLIMIT_MEMLOCK" not in ln)
    reply, msgs = run_cell(kc, code, timeout=60)
    assert reply["status"] == "error"
    assert "\n".join(reply["traceback"]) + "\n" == expected
    assert [m["msg_type"] for m in msgs if m["msg_type"] != "execute_input"] == ["error"]
    reply, _ = run_cell(kc, "BEGIN { exit(); }", timeout=60)
    assert reply["status"] == "ok"


@pytest.mark.bpftrace
def test_maps_are_display_data_with_bpftraces_text_html_and_png(kernel):
    _, kc = kernel
    code = 'BEGIN { @c["a"] = count(); @h = hist(5); @h = hist(700); exit(); }'
    ref = subprocess.run(["bpftrace", "-e", code], capture_output=True, text=True, timeout=30)
    reply, msgs = run_cell(kc, code, timeout=60)
    assert reply["status"] == "ok"
    shown = [m["content"]["data"] for m in of_type(msgs, "display_data")
             if m["content"]["data"].get("text/plain", "").startswith("@")]
    assert [d["text/plain"][:2] for d in shown] == ["@c", "@h"]
    # bpftrace's exit output is "\n\n" then the maps: each display is one map's exact text
    assert ref.stdout.split("\n\n\n", 1)[1] == "".join(d["text/plain"] for d in shown)
    assert all("text/html" in d for d in shown)
    assert "image/png" in shown[1]


def test_probes_magic_lists_tracepoints(kernel):
    _, kc = kernel
    reply, msgs = run_cell(kc, "%probes tracepoint:syscalls:sys_enter_openat", timeout=60)
    assert reply["status"] == "ok"
    assert stream_text(msgs).strip() == "tracepoint:syscalls:sys_enter_openat"


def _map_msgs(msgs, prefix):
    return [m for m in of_type(msgs, "display_data", "update_display_data")
            if m["content"]["data"].get("text/plain", "").startswith(prefix)]


def test_maps_update_in_place_while_a_long_cell_runs(kernel):
    _, kc = kernel
    reply, msgs = run_cell(kc, "%%trace -d 2.6\ntracepoint:raw_syscalls:sys_enter { @[comm] = count(); }",
                           timeout=60)
    assert reply["status"] == "ok"
    shown = _map_msgs(msgs, "@[")
    assert shown[0]["msg_type"] == "display_data"
    assert len(shown) >= 2 and all(m["msg_type"] == "update_display_data" for m in shown[1:])
    assert len({m["content"]["transient"]["display_id"] for m in shown}) == 1
    # the first view came while the trace ran, the final one after it stopped
    assert shown[-1]["_t"] - shown[0]["_t"] > 0.8
    assert "text/html" in shown[-1]["content"]["data"]


def test_interval_print_updates_one_display(kernel):
    _, kc = kernel
    code = "%%trace -d 1.7 --no-live\ninterval:ms:400 { @ticks = count(); print(@ticks); }"
    reply, msgs = run_cell(kc, code, timeout=60)
    assert reply["status"] == "ok"
    prints = _map_msgs(msgs, "@ticks: ")
    assert prints[0]["msg_type"] == "display_data"
    display_id = prints[0]["content"]["transient"]["display_id"]
    updates = [m for m in prints if m["msg_type"] == "update_display_data"]
    assert len(updates) >= 2
    assert all(m["content"]["transient"]["display_id"] == display_id for m in updates)
    values = [int(m["content"]["data"]["text/plain"].split(": ")[1]) for m in prints[:-1]]
    assert values == sorted(values) and values[-1] >= 3


def test_unsafe_and_json_format_options(kernel):
    _, kc = kernel
    code = 'BEGIN { system("echo from-system"); exit(); }'
    reply, _ = run_cell(kc, code, timeout=60)
    assert reply["status"] == "error" and "unsafe function" in reply["evalue"]
    reply, msgs = run_cell(kc, "%%trace --unsafe\n" + code, timeout=60)
    assert reply["status"] == "ok" and "from-system" in stream_text(msgs)
    reply, msgs = run_cell(kc, '%%trace -f json\nBEGIN { @a = 1; printf("x\\n"); exit(); }', timeout=60)
    assert reply["status"] == "ok"
    assert json.loads(stream_text(msgs).strip().splitlines()[0]) == {"type": "printf", "data": "x\n"}
    shown = [m["content"]["data"] for m in of_type(msgs, "display_data")
             if m["content"]["data"]["text/plain"].startswith('{"type": "map"')]
    assert json.loads(shown[0]["text/plain"]) == {"type": "map", "data": {"@a": 1}}
    assert "text/html" not in shown[0]


def test_printf_flood_is_capped_batched_and_spooled(kernel):
    _, kc = kernel
    code = '%%trace -d 1.5 --max-lines 200\ntracepoint:raw_syscalls:sys_enter { printf("%s %d\\n", comm, pid); }'
    reply, msgs = run_cell(kc, code, timeout=60)
    assert reply["status"] == "ok"
    assert stream_text(msgs).count("\n") == 200
    assert len(of_type(msgs, "stream")) < 20
    note = stream_text(msgs, "stderr")
    assert "200 lines shown" in note
    spool = note.split("spooled to ")[1].split(",")[0]
    spooled = int(note.split(" spooled")[0].rsplit(", ", 1)[1].replace(",", ""))
    with open(spool) as f:
        assert sum(1 for _ in f) == spooled > 0


def test_pid_option_traces_that_process(kernel):
    _, kc = kernel
    busy = subprocess.Popen(["sh", "-c", "while :; do sleep 0.05; done"])
    try:
        code = f"%%trace -d 1 -p {busy.pid}\ntracepoint:raw_syscalls:sys_enter {{ @[pid] = count(); }}"
        reply, msgs = run_cell(kc, code, timeout=60)
    finally:
        busy.kill()
        busy.wait(timeout=10)
    assert reply["status"] == "ok"
    shown = [m["content"]["data"]["text/plain"] for m in of_type(msgs, "display_data", "update_display_data")
             if m["content"]["data"]["text/plain"].startswith("@[")][-1]
    assert [line.split("]")[0] for line in shown.splitlines()] == [f"@[{busy.pid}"]
