"""Property tests (hypothesis) for the printf formatter on hostile formats: any format text
with any flags, widths, precisions, length modifiers and conversions is either refused by
check_format with a message, or formats its arguments without raising, in bounded size."""
from __future__ import annotations

from hypothesis import HealthCheck, given, settings, strategies as st

from bpftrace_compiler.types import Int, Str
from bpftrace_kernel.render.printf import MAX_FIELD, check_format, format_printf, parse_format

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

numbers = st.one_of(st.none(), st.integers(0, 99), st.integers(0, 10 ** 12))
specs = st.builds(
    lambda flags, width, prec, length, conv: (
        "%" + flags + ("" if width is None else str(width))
        + ("" if prec is None else "." + str(prec)) + length + conv),
    st.text("-+ #0", max_size=4), numbers, numbers,
    st.sampled_from(["", "h", "hh", "l", "ll", "z", "j", "L", "q"]),
    st.sampled_from(list("diouxXcspf%rnaAeEgG") + ["rx", "rh", ""]))
literals = st.text(st.characters(min_codepoint=1, max_codepoint=0x2FF, blacklist_characters="%"),
                   max_size=6)
formats = st.lists(st.one_of(specs, literals), max_size=6).map("".join)


def _args_for(fmt: str, ints: list[int], texts: list[str]):
    """Arguments of the types the conversions ask for (strings for %s, integers otherwise)."""
    args = []
    for i, spec in enumerate(s for s in parse_format(fmt) if getattr(s, "conv", "%") != "%"):
        if spec.conv == "s":
            t = texts[i % len(texts)]
            args.append((Str(len(t) + 1), t))
        else:
            args.append((Int(64), ints[i % len(ints)]))
    return args


@SETTINGS
@given(formats, st.lists(st.integers(-2 ** 63, 2 ** 64 - 1), min_size=1, max_size=4),
       st.lists(st.text(max_size=20), min_size=1, max_size=3))
def test_any_format_is_refused_or_formats_in_bounded_size(fmt, ints, texts):
    try:
        args = _args_for(fmt, ints, texts)
    except (ValueError, TypeError):
        args = []
    problems = check_format(fmt, [t for t, _ in args])
    if problems:
        assert all(p.startswith("printf: ") for p in problems), problems
        return
    out = format_printf(fmt, args)
    conversions = max(1, len(args))
    assert len(out) <= len(fmt) + conversions * (2 * MAX_FIELD + 64)
