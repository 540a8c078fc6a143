"""Packed map reads: the one-pass decoder and the one-format-per-line renderer give exactly
what the item-by-item decoder and the generic renderer give."""
import struct

import pytest

from bpftrace_compiler.artifact import CompiledProgram, MapSpec
from bpftrace_compiler.types import Int, Kind, SizedType, Str, TupleOf, UInt

from bpftrace_loader.decode import Decoder, _packed_counts
from bpftrace_kernel.render import text
from bpftrace_kernel.render.values import format_key, format_value

DECODER = Decoder(CompiledProgram(elf=b"", probes=(), maps=(), actions=()))


def spec(key_type, value_kind=Kind.COUNT, signed=False):
    size = key_type.size if key_type is not None else 8
    return MapSpec("@m", "percpu_hash", size, 8, 1000, key_type=key_type,
                   value_type=SizedType(value_kind, 8, signed))


def packed(key_fmt, keys, slots):
    """Keys packed with `key_fmt`; each value as 2 per-CPU u64 slots."""
    kb = b"".join(struct.pack(key_fmt, *k) for k in keys)
    vb = b"".join(struct.pack("<2q", *s) for s in slots)
    return kb, vb, len(keys)


def generic_text(snapshot):
    """The renderer's general path: format_key/format_value per entry."""
    from bpftrace_kernel.render.ordering import ordered_entries
    return "\n".join(f"{format_key('@m', snapshot.spec.key_type, k)}: "
                     f"{format_value(snapshot.spec.value_type, v)}"
                     for k, v in ordered_entries(snapshot)) + "\n"


CASES = [
    (Int(64), "<q", [(-5,), (7,), (1 << 40,)]),
    (UInt(32), "<I", [(1,), (4000000000,), (3,)]),             # prints as a negative int
    (TupleOf([Int(64), Int(32)]), "<qi4x", [(1, -2), (3, 4), (5, 2 ** 31 - 1)]),
    (Str(8), "<8s", [(b"ab",), (b"cdefgh",), (b"x\xff",)]),    # not packed: item path
]


@pytest.mark.parametrize("key_type, fmt, keys", CASES)
@pytest.mark.parametrize("kind, signed", [(Kind.COUNT, False), (Kind.SUM, True)])
def test_packed_snapshot_and_text_match_the_item_path(key_type, fmt, keys, kind, signed):
    s = spec(key_type, kind, signed)
    slots = [(3, 4), (-9, 2), (1 << 62, 1 << 62)]            # the last one wraps when summed
    kb, vb, n = packed(fmt, keys, slots)
    items = [(kb[i * s.key_size:(i + 1) * s.key_size], vb[i * 16:(i + 1) * 16]) for i in range(n)]
    by_items = DECODER.map_snapshot(s, items, 2)
    by_packed = DECODER.map_snapshot_packed(s, kb, vb, n, 2)
    assert by_packed.entries == by_items.entries
    one_pass = _packed_counts(s, kb, vb, n, 2)
    assert (one_pass is None) == (key_type.kind == Kind.STRING)
    assert text.render_map(by_packed) == generic_text(by_items)


def test_unsigned_key_beyond_the_signed_range_prints_negative_like_bpftrace():
    s = spec(UInt(32))
    kb, vb, n = packed("<I", [(4000000000,)], [(1, 0)])
    assert text.render_map(DECODER.map_snapshot_packed(s, kb, vb, n, 2)) == "@m[-294967296]: 1\n"
