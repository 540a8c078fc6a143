"""printf's %-format fast path gives exactly the general formatter's text."""
import itertools

import pytest

from bpftrace_compiler.types import Int, Str
from bpftrace_kernel.render import printf as P

INTS = [0, 1, -1, 42, -42, 300, 70000, 2 ** 31, -2 ** 31 - 5, 2 ** 63 - 1, -2 ** 63, 5000000000]
STRS = ["abc", "", "x\0y", "h\u00e9llo", "%d"]
FORMATS = ["%d %d\n", "[%5d][%-5d][%05d][%X][%x][%o][%u]", "[%lu][%llx][%hhu][%hd][%zd][%i]",
           "%s-%s|%d", "100%% %d %%", "%-05d|%0-5d|%08x", "%s"]


def general(fmt, args, monkeypatch):
    with monkeypatch.context() as m:
        m.setattr(P, "_fast_format", lambda f: None)
        return P.format_printf(fmt, args)


@pytest.mark.parametrize("fmt", FORMATS)
def test_fast_path_matches_the_general_formatter(fmt, monkeypatch):
    assert P._fast_format(fmt) is not None
    specs = [s for s in P.parse_format(fmt) if not isinstance(s, str)]
    pools = [[(Str(16), v) for v in STRS] if s.conv == "s" else [(Int(64), v) for v in INTS]
             for s in specs]
    for n, args in enumerate(itertools.product(*pools)):
        if n > 400:
            break
        assert P.format_printf(fmt, list(args)) == general(fmt, list(args), monkeypatch)


@pytest.mark.parametrize("fmt", ["%+d", "%.3d", "%#x", "%c", "%p", "%5s", "%.2s", "%r"])
def test_other_conversions_take_the_general_path(fmt):
    assert P._fast_format(fmt) is None


def test_values_of_another_shape_fall_back(monkeypatch):
    args = [(Int(64), True), (Str(8), b"ab\0c")]
    assert P.format_printf("%d %s", args) == general("%d %s", args, monkeypatch)
