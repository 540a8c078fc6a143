"""The Jupyter layer driven through jupyter_client, with the scripted fake engine
(fake_engine.py): streaming, caps, interrupts, errors, live displays, Stop button, magics."""
from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest
from jupyter_client.manager import start_new_kernel

from harness import FAKE, FAKE_SIGNAL, SPOOL_DIR, of_type, run_cell, stream_text


def fake(script: dict, magic: str = "", body: str = "tracepoint:a:b { }") -> str:
    head = f"{magic}\n" if magic else ""
    return f"{head}// fake: {json.dumps(script)}\n{body}"


@pytest.fixture(scope="module")
def kernel(tmp_path_factory):
    log = tmp_path_factory.mktemp("fake") / "engine.log"
    os.environ["FAKE_ENGINE_LOG"] = str(log)
    km, kc = start_new_kernel(kernel_name=FAKE, startup_timeout=60)
    kc.engine_log = log
    yield km, kc
    kc.stop_channels()
    km.shutdown_kernel(now=True)


def test_kernel_info_describes_bpftrace_without_debugger(kernel):
    _, kc = kernel
    kc.kernel_info()
    info = kc.get_shell_msg(timeout=10)["content"]
    assert info["language_info"]["name"] == "bpftrace"
    assert info["language_info"]["file_extension"] == ".bt"
    assert info["language_info"]["pygments_lexer"] == "bpftrace"
    # JupyterLab 4 finds no language named "clike" and falls back to the mime: C highlighting
    assert info["language_info"]["codemirror_mode"] == {"name": "clike", "mime": "text/x-csrc"}
    assert "debugger" not in info["supported_features"]
    assert "BPF privileges" in info["banner"]


def test_printf_lines_stream_before_the_cell_ends(kernel):
    _, kc = kernel
    reply, msgs = run_cell(kc, fake({"lines": 6, "every": 0.25, "exit_after": 1.6}))
    assert reply["status"] == "ok"
    streams = [m for m in of_type(msgs, "stream") if "line" in m["content"]["text"]]
    assert stream_text(msgs).count("line ") == 6
    end = of_type(msgs, "update_display_data")[-1]["_t"]
    # several batches, the first well before the end
    assert len(streams) >= 3
    assert end - streams[0]["_t"] > 0.8
    final = of_type(msgs, "update_display_data")[-1]["content"]
    status = final["data"]["text/plain"]
    assert "exit() was called" in status and "1 probe attached" in status
    record = final["metadata"]["bpftrace"]
    assert record["stop_reason"] == "exit" and record["printf_lines_shown"] == 6
    assert record["program"].endswith("tracepoint:a:b { }") and record["options"]["duration"] is None


def test_compile_error_is_one_error_output_and_the_kernel_survives(kernel):
    _, kc = kernel
    code = fake({"compile_error": True}, body="kprobex:foo { }")
    reply, msgs = run_cell(kc, code)
    assert reply["status"] == "error"
    assert [m["msg_type"] for m in msgs if m["msg_type"] != "execute_input"] == ["error"]
    text = "\n".join(reply["traceback"])
    # the program starts on line 2 of the cell (line 1 is the fake script)
    assert text == "stdin:2:1-8: ERROR: Invalid provider: kprobex\nkprobex:foo { }\n~~~~~~~"
    assert "Traceback" not in text
    reply, msgs = run_cell(kc, fake({"special": True}, body="BEGIN { }"))
    assert reply["status"] == "ok"


def test_attach_error_is_a_clear_error_reply(kernel):
    _, kc = kernel
    reply, msgs = run_cell(kc, fake({"attach_error": True}))
    assert reply["status"] == "error"
    assert reply["ename"] == "TraceError"
    assert "attach failed" in reply["evalue"]


def test_interrupt_stops_like_ctrl_c_prints_maps_and_replies_ok(kernel):
    km, kc = kernel
    started = []

    def during(m):
        if m["msg_type"] == "display_data" and not started:
            started.append(time.monotonic())
            threading.Timer(0.5, km.interrupt_kernel).start()

    t0 = time.monotonic()
    reply, msgs = run_cell(kc, fake({"maps": {"@x": 2}}, body="tracepoint:a:b { } END { }"),
                           during=during, timeout=20)
    assert reply["status"] == "ok"
    assert time.monotonic() - t0 < 15, "the trace stopped (it would run forever)"
    maps = [m for m in of_type(msgs, "display_data", "update_display_data")
            if m["content"]["data"].get("text/plain", "").startswith("@x[")]
    assert maps, "the maps are printed after an interrupt"
    assert "END\n" in stream_text(msgs)
    status = of_type(msgs, "update_display_data")[-1]["content"]["data"]["text/plain"]
    assert "stopped by interrupt" in status
    reply, _ = run_cell(kc, fake({"special": True}, body="BEGIN { }"))
    assert reply["status"] == "ok"


def test_duration_magic_and_positional_params(kernel):
    _, kc = kernel
    t0 = time.monotonic()
    reply, msgs = run_cell(kc, fake({}, magic="%%trace -d 0.6 -- hello 42"))
    elapsed = time.monotonic() - t0
    assert reply["status"] == "ok"
    assert 0.5 < elapsed < 15
    assert "its duration ended" in of_type(msgs, "update_display_data")[-1]["content"]["data"]["text/plain"]
    assert "params=['hello', '42']" in kc.engine_log.read_text().splitlines()[-1]


def test_session_default_duration(kernel):
    _, kc = kernel
    reply, msgs = run_cell(kc, "%duration 0.5")
    assert reply["status"] == "ok" and "0.5 s" in stream_text(msgs)
    try:
        t0 = time.monotonic()
        reply, msgs = run_cell(kc, fake({}))
        assert reply["status"] == "ok" and time.monotonic() - t0 < 15
        assert "its duration ended" in of_type(msgs, "update_display_data")[-1]["content"]["data"]["text/plain"]
    finally:
        run_cell(kc, "%duration off")


def test_printf_flood_is_capped_and_spooled(kernel):
    _, kc = kernel
    reply, msgs = run_cell(kc, fake({"flood": 2000, "exit_after": 1.0}, magic="%%trace --max-lines 300"))
    assert reply["status"] == "ok"
    shown = stream_text(msgs)
    assert shown.count("flood line") == 300
    streams = of_type(msgs, "stream")
    assert len(streams) < 30, "printf output is batched"
    note = stream_text(msgs, "stderr")
    assert "300 lines shown" in note and "spooled to" in note
    path = Path(note.split("spooled to ")[1].split(",")[0])
    assert path.parent == SPOOL_DIR.resolve()
    spooled = path.read_text().count("flood line")
    assert spooled > 1000 and f"{spooled:,} spooled" in note


def test_interval_print_updates_its_display_in_place(kernel):
    _, kc = kernel
    reply, msgs = run_cell(kc, fake({"maps": {"@c": 1}, "print_every": 0.3, "exit_after": 1.45}))
    assert reply["status"] == "ok"
    shown = [m for m in of_type(msgs, "display_data", "update_display_data")
             if m["content"]["data"].get("text/plain", "").startswith("@c[")]
    first = shown[0]
    assert first["msg_type"] == "display_data"
    ids = {m["content"]["transient"]["display_id"] for m in shown[:-1]}
    assert len(ids) == 1
    assert all(m["msg_type"] == "update_display_data" for m in shown[1:-1])
    assert len(shown) >= 4


def test_stop_button_stops_the_trace_and_serves_every_cell():
    km, kc = start_new_kernel(kernel_name=FAKE, startup_timeout=60)
    button = []

    def click_soon(m):
        if m["msg_type"] == "comm_open" and m["content"]["data"]["state"].get("_model_name") == "ButtonModel":
            button.append(m["content"]["comm_id"])
        if m["msg_type"] == "display_data" and "application/vnd.jupyter.widget-view+json" in m["content"]["data"]:
            def click():
                msg = kc.session.msg("comm_msg", {"comm_id": button[0],
                                                  "data": {"method": "custom", "content": {"event": "click"}}})
                kc.shell_channel.send(msg)
            threading.Timer(0.4, click).start()

    try:
        for cell in range(2):
            reply, msgs = run_cell(kc, fake({"maps": {"@x": 1}}), during=click_soon, timeout=20)
            assert button and reply["status"] == "ok"
            status = of_type(msgs, "update_display_data")[-1]["content"]["data"]
            assert "stopped by the Stop button" in status["text/plain"]
            assert "application/vnd.jupyter.widget-view+json" not in status, "replaced by static output"
            # the second cell reuses the panel: no new widget models
            assert bool(of_type(msgs, "comm_open")) == (cell == 0)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def test_traced_command_stops_the_trace_when_it_exits(kernel):
    _, kc = kernel
    reply, msgs = run_cell(kc, fake({}, magic="%%trace -c 'sh -c \"echo from-child; sleep 0.3\"'"))
    assert reply["status"] == "ok"
    assert "from-child" in stream_text(msgs)
    assert "the traced command exited" in of_type(msgs, "update_display_data")[-1]["content"]["data"]["text/plain"]
    last = kc.engine_log.read_text().splitlines()[-1]
    assert int(last.split("cpid=")[1]) > 0
    assert " pid=None " in last, "like bpftrace -c, the probes are not filtered by pid"


def test_magic_errors_are_usage_errors(kernel):
    _, kc = kernel
    reply, msgs = run_cell(kc, "%%trace --duration soon\nBEGIN { }")
    assert reply["status"] == "error" and reply["ename"] == "UsageError"
    assert "--duration" in reply["evalue"]
    reply, _ = run_cell(kc, "%nosuchmagic")
    assert reply["status"] == "error" and "Unknown magic %nosuchmagic" in reply["evalue"]
    reply, _ = run_cell(kc, "%%trace -c nosuchcommand-xyz\nBEGIN { }")
    assert reply["status"] == "error" and "command not found" in reply["evalue"]
    reply, _ = run_cell(kc, "%%trace -p 999999999\nBEGIN { }")
    assert reply["status"] == "error" and reply["evalue"] == "ERROR: pid '999999999' does not exist"


def test_help_magic_lists_magics(kernel):
    _, kc = kernel
    reply, msgs = run_cell(kc, "%help")
    text = stream_text(msgs)
    assert reply["status"] == "ok"
    for word in ("%%trace", "--duration", "--cmd", "%duration", "%probes", "--unsafe"):
        assert word in text


def test_only_special_cell_ends_by_itself_without_a_stop_button(kernel):
    _, kc = kernel
    reply, msgs = run_cell(kc, fake({"special": True}, body="BEGIN { } END { }"), timeout=10)
    assert reply["status"] == "ok"
    assert not of_type(msgs, "comm_open")
    assert "BEGIN/END only" in of_type(msgs, "update_display_data")[-1]["content"]["data"]["text/plain"]


def test_sigint_interrupt_mode_also_stops_the_trace_and_the_kernel_survives():
    km, kc = start_new_kernel(kernel_name=FAKE_SIGNAL, startup_timeout=60)
    try:
        assert km.kernel_spec.interrupt_mode == "signal"
        fired = []

        def during(m):
            if m["msg_type"] == "display_data" and not fired:
                fired.append(1)
                threading.Timer(0.4, km.interrupt_kernel).start()

        reply, msgs = run_cell(kc, fake({"maps": {"@x": 1}}), during=during, timeout=20)
        assert reply["status"] == "ok"
        assert "stopped by interrupt" in of_type(msgs, "update_display_data")[-1]["content"]["data"]["text/plain"]
        assert km.is_alive()
        reply, _ = run_cell(kc, fake({"special": True}, body="BEGIN { }"))
        assert reply["status"] == "ok"
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def test_interrupt_while_compiling_fails_the_cell_with_keyboardinterrupt(kernel):
    km, kc = kernel
    threading.Timer(0.3, km.interrupt_kernel).start()
    reply, msgs = run_cell(kc, fake({"compile_delay": 1.0}), timeout=20)
    assert reply["status"] == "error" and reply["ename"] == "KeyboardInterrupt"
    assert "nothing was attached" in reply["evalue"]
    assert not of_type(msgs, "display_data")
    reply, _ = run_cell(kc, fake({"special": True}, body="BEGIN { }"))
    assert reply["status"] == "ok"


def test_shutdown_during_a_traced_command_kills_the_command(tmp_path):
    km, kc = start_new_kernel(kernel_name=FAKE, startup_timeout=60)
    marker = tmp_path / "child.pid"
    try:
        kc.execute(fake({}, magic=f"%%trace -c \"sh -c 'echo $$ > {marker}; sleep 60'\""))
        deadline = time.monotonic() + 20
        while not (marker.exists() and marker.read_text().strip()) and time.monotonic() < deadline:
            time.sleep(0.1)
        pid = int(marker.read_text())
        os.kill(pid, 0)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=False)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        os.kill(pid, 9)
        raise AssertionError("the traced command outlived the kernel")
