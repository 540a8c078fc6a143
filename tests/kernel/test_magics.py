"""Unit tests of cell parsing: %%trace options, line magics, error messages."""
from __future__ import annotations

import pytest

from bpftrace_kernel.magics import (LINE_MAGICS, MagicError, SessionDefaults, help_text,
                                    parse_cell, with_session_caps)


def test_plain_cell_is_the_program_with_session_defaults():
    req = parse_cell("BEGIN { exit(); }", SessionDefaults(duration=7))
    assert req.program == "BEGIN { exit(); }"
    assert req.has_program and req.options.duration == 7 and req.options.params == ()


def test_trace_options_and_params():
    req = parse_cell("%%trace -d 2.5 --pid 42 --unsafe -f json --max-lines 9 -- a 'b c'\nBEGIN { }",
                     SessionDefaults())
    o = req.options
    assert (o.duration, o.pid, o.unsafe, o.output_format, o.max_lines) == (2.5, 42, True, "json", 9)
    assert o.params == ("a", "b c")
    # the magic line is blanked so error line numbers are the cell's
    assert req.program == "\nBEGIN { }"


def test_cmd_option_and_long_forms():
    o = parse_cell('%%trace --duration 1 --cmd "ls -l /"\nBEGIN { }', SessionDefaults()).options
    assert o.cmd == "ls -l /" and o.duration == 1


@pytest.mark.parametrize("line, message", [
    ("%%trace -d soon", "invalid number of seconds: 'soon'"),
    ("%%trace -d -1", "--duration"),
    ("%%trace --pid x", "invalid integer"),
    ("%%trace --bogus", "unrecognized arguments: --bogus"),
    ("%%trace extra", "positional parameters go after --"),
    ("%%trace -p 1 -c ls", "cannot be used together"),
    ("%%trace --format xml", "invalid choice"),
])
def test_bad_trace_options_raise_one_line_errors(line, message):
    with pytest.raises(MagicError) as e:
        parse_cell(line + "\nBEGIN { }", SessionDefaults())
    assert message in str(e.value)
    assert "\n" not in str(e.value).strip()


def test_cell_magic_must_be_first_and_known():
    with pytest.raises(MagicError, match="first line"):
        parse_cell("%duration 3\n%%trace -d 1\nBEGIN { }", SessionDefaults())
    with pytest.raises(MagicError, match="Unknown cell magic %%bash"):
        parse_cell("%%bash\nls", SessionDefaults())
    with pytest.raises(MagicError, match="no bpftrace program"):
        parse_cell("%%trace -d 1\n", SessionDefaults())


def test_line_magics_before_a_program():
    req = parse_cell("%duration 3\n// note\nBEGIN { }", SessionDefaults())
    assert [(c.name, c.args, c.line) for c in req.line_magics] == [("duration", "3", 1)]
    assert req.program == "\n// note\nBEGIN { }"
    assert not parse_cell("%help", SessionDefaults()).has_program
    with pytest.raises(MagicError, match="Unknown magic %nope"):
        parse_cell("%nope", SessionDefaults())


class _Ctx:
    def __init__(self):
        self.defaults = SessionDefaults()
        self.out = ""
        self.listed = None

    def write(self, text):
        self.out += text

    def list_probes(self, pattern, verbose):
        self.listed = (pattern, verbose)
        return "tracepoint:a:b\n"

    def preflight(self):
        return self.rows


def test_duration_magic_sets_and_clears_the_default():
    ctx = _Ctx()
    LINE_MAGICS["duration"].run(ctx, "10")
    assert ctx.defaults.duration == 10 and "10 s" in ctx.out
    assert parse_cell("BEGIN { }", ctx.defaults).options.duration == 10
    assert parse_cell("%%trace -d 2\nBEGIN { }", ctx.defaults).options.duration == 2
    LINE_MAGICS["duration"].run(ctx, "off")
    assert ctx.defaults.duration is None
    with pytest.raises(MagicError):
        LINE_MAGICS["duration"].run(ctx, "abc")


def test_probes_magic_passes_pattern_and_verbose():
    ctx = _Ctx()
    LINE_MAGICS["probes"].run(ctx, "-v tracepoint:syscalls:sys_enter_open*")
    assert ctx.listed == ("tracepoint:syscalls:sys_enter_open*", True)
    assert ctx.out == "tracepoint:a:b\n"


def test_help_and_caps():
    text = help_text()
    assert "%%trace" in text and "--duration" in text and "%probes" in text
    o = parse_cell("BEGIN { }", SessionDefaults()).options
    assert with_session_caps(o, SessionDefaults(max_lines=5)).max_lines == 5


def test_check_magic_marks_failures_and_gives_a_verdict():
    ctx = _Ctx()
    ctx.rows = [("BPF privileges", True, "root"), ("tracefs", False, "mount -t tracefs nodev /sys/kernel/tracing")]
    LINE_MAGICS["check"].run(ctx, "")
    lines = ctx.out.splitlines()
    assert lines[0].startswith("ok ") and "root" in lines[0]
    assert lines[1].startswith("NO ") and "mount -t tracefs" in lines[1]
    assert lines[2].startswith("not ready")
    ctx.out, ctx.rows = "", [("BPF privileges", True, "root")]
    LINE_MAGICS["check"].run(ctx, "")
    assert ctx.out.splitlines()[-1] == "ready to trace"
