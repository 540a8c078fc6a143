"""JSON lines beyond the golden captures: messages (captured from 0.17), escaping, stacks."""
from __future__ import annotations

import json

from bpftrace_compiler.types import Int, Kind, Simple, SizedType, Str
from bpftrace_kernel.render import json_output
from bpftrace_loader.values import Stack


def test_messages_as_captured_from_017():
    assert json_output.attached_probes(1) == '{"type": "attached_probes", "data": {"probes": 1}}\n'
    assert json_output.lost_events(24) == '{"type": "lost_events", "data": {"events": 24}}\n'
    assert json_output.printf("hello 5\n") == '{"type": "printf", "data": "hello 5\\n"}\n'
    assert json_output.time("2026\n") == '{"type": "time", "data": "2026\\n"}\n'
    assert json_output.cat("hello\nworld\n") == '{"type": "cat", "data": "hello\\nworld\\n"}\n'
    assert json_output.syscall("hi\n") == '{"type": "syscall", "data": "hi\\n"}\n'
    assert json_output.join("basename,/x") == '{"type": "join", "data": "basename,/x"}\n'


def test_escaping_as_captured_from_017():
    # printf("a\"b\\c\x01\n") under -f json
    assert json_output.printf('a"b\\c\x01\n') == \
        '{"type": "printf", "data": "a\\"b\\\\c\\u0001\\n"}\n'


def test_values():
    assert json_output.value(Str(4), "abc") == '{"type": "value", "data": "abc"}\n'
    assert json_output.value(Int(64), 123) == '{"type": "value", "data": 123}\n'
    assert json_output.value(SizedType(Kind.BUFFER, 4), b"ab\x01") == \
        '{"type": "value", "data": "ab\\\\x01"}\n'
    stack = Stack(("f+1", "g+2"))
    assert json_output.value(Simple(Kind.KSTACK), stack) == \
        '{"type": "value", "data": "\\n        f+1\\n        g+2\\n"}\n'


def test_string_like_values_are_quoted(snapshot):
    # deviation: 0.17 writes `"data": No such file or directory` (invalid JSON)
    line = json_output.value(Simple(Kind.STRERROR), "No such file or directory")
    assert json.loads(line)["data"] == "No such file or directory"
    m = snapshot("@ts", Simple(Kind.TIMESTAMP, 16), [((), "2026")])
    assert json.loads(json_output.map(m)) == {"type": "map", "data": {"@ts": "2026"}}


def test_every_map_line_is_valid_json(snapshot):
    m = snapshot("@m", Int(64), [(("a\"b",), 1), (("c\\d",), 2)], Str(4))
    assert json.loads(json_output.map(m))["data"]["@m"] == {'a"b': 1, "c\\d": 2}


def test_empty_maps_print_nothing(snapshot):
    assert json_output.map(snapshot("@e", Int(64), [], Int(64))) == ""


def test_line_names_used_by_the_engine(snapshot):
    m = snapshot("@c", Int(64), [((), 1)])
    assert json_output.map_line(m) == json_output.map(m) == '{"type": "map", "data": {"@c": 1}}\n'
    assert json_output.message_line("join", "a b") == '{"type": "join", "data": "a b"}\n'
    assert json_output.value_line(Int(64), 5) == json_output.value(Int(64), 5)
    assert json_output.lost_line(3) == json_output.lost_events(3)
    assert json_output.attached_line(2) == json_output.attached_probes(2)
