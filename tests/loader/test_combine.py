"""Per-CPU value slots combined per artifact.py's layouts."""
import struct

from bpftrace_compiler.types import Kind, SizedType

from bpftrace_loader.maps import BpfMap, Combiner, combine, kernel_map_name, round8
from bpftrace_compiler.artifact import MapSpec
from bpftrace_loader.uapi import MapType


def t(kind, signed=False):
    return SizedType(kind, 8, signed)


def q(*vals, fmt="<q"):
    return [struct.pack(fmt, v) for v in vals]


def pair(*pairs):
    return [struct.pack("<qQ", v, n) for v, n in pairs]


def test_count_and_sum():
    assert combine(q(3, 4, 0), t(Kind.COUNT)) == 7
    assert combine(q(-5, 2), t(Kind.SUM, signed=True)) == -3
    assert combine(q(1 << 63, 1 << 63, fmt="<Q"), t(Kind.SUM)) == 0   # u64 wraps


def test_min_max_ignore_unset_slots():
    slots = pair((10, 1), (0, 0), (-4, 1))
    assert combine(slots, t(Kind.MIN, signed=True)) == -4
    assert combine(slots, t(Kind.MAX, signed=True)) == 10
    assert combine(pair((0, 0), (0, 0)), t(Kind.MIN)) == 0
    big = [struct.pack("<QQ", (1 << 64) - 1, 1), struct.pack("<QQ", 3, 1)]
    assert combine(big, t(Kind.MAX)) == (1 << 64) - 1                 # unsigned compare


def test_avg_and_stats_give_count_and_total():
    assert combine(pair((10, 2), (-30, 1)), t(Kind.AVG, signed=True)) == (3, -20)
    assert combine(pair((6, 3)), t(Kind.STATS)) == (3, 6)


def test_combiner_reads_slots_at_their_stride():
    # a 12-byte value would sit in 16-byte slots; here: min/max slots padded to 24 bytes
    blob = struct.pack("<qQ8x", 5, 1) + struct.pack("<qQ8x", 2, 1) + struct.pack("<qQ8x", 9, 0)
    assert Combiner(t(Kind.MIN, signed=True), 3, 24)(blob) == 2
    assert Combiner(t(Kind.COUNT), 2, 8)(struct.pack("<QQ", 4, 5)) == 9


def test_per_cpu_slots_use_8_byte_strides():
    spec = MapSpec("@x", "percpu_hash", 8, 12, 16)
    m = BpfMap(-1, spec, MapType.PERCPU_HASH)
    blob = b"".join(bytes([i]) * 12 + b"\0" * 4 for i in range(m.ncpus))
    assert m.value_stride == round8(12) * m.ncpus
    assert m.per_cpu(blob) == [bytes([i]) * 12 for i in range(m.ncpus)]


def test_kernel_map_names():
    assert kernel_map_name("@x") == "AT_x"
    assert kernel_map_name("@") == "AT_"
    assert kernel_map_name("@a_very_long_map_name") == "AT_a_very_long_"
