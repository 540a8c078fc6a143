"""Ring buffer record walking on synthetic ring bytes."""
import struct

from bpftrace_loader.ringbuf import parse_records, record_span
from bpftrace_loader.uapi import BPF_RINGBUF_BUSY_BIT, BPF_RINGBUF_DISCARD_BIT

SIZE = 64   # a tiny ring: records must wrap through the double mapping


class Ring:
    """A ring of SIZE bytes mapped twice in a row, as the kernel maps the data pages."""

    def __init__(self):
        self.data = bytearray(SIZE)
        self.prod = 0

    def put(self, payload: bytes, flags: int = 0) -> None:
        for i, b in enumerate(struct.pack("<II", len(payload) | flags, 0) + payload):
            self.data[(self.prod + i) % SIZE] = b
        self.prod += record_span(len(payload))

    def blob(self, cons: int) -> bytes:
        """What the consumer copies: the ring from `cons` up to the producer position."""
        start = cons % SIZE
        return bytes((self.data * 2)[start:start + self.prod - cons])


def test_records_in_order_with_padding():
    ring = Ring()
    ring.put(b"abc")
    ring.put(b"0123456789")
    records, cons = parse_records(ring.blob(0))
    assert records == [b"abc", b"0123456789"]
    assert cons == 16 + 24 == ring.prod


def test_discarded_records_are_skipped_and_busy_stops_the_walk():
    ring = Ring()
    ring.put(b"keep")
    ring.put(b"gone", BPF_RINGBUF_DISCARD_BIT)
    ring.put(b"late", BPF_RINGBUF_BUSY_BIT)
    ring.put(b"after")
    records, cons = parse_records(ring.blob(0))
    assert records == [b"keep"]
    assert cons == 32          # stopped at the busy record, which is not consumed


def test_wrap_around_and_limit():
    ring = Ring()
    ring.put(b"x" * 40)                 # 48 bytes
    first, cons = parse_records(ring.blob(0))
    ring.put(b"wraps around!")          # starts at 48, ends past the ring end
    ring.put(b"third")
    records, used = parse_records(ring.blob(cons), limit=1)
    cons2 = cons + used
    assert first == [b"x" * 40]
    assert records == [b"wraps around!"]
    rest, used = parse_records(ring.blob(cons2))
    assert rest == [b"third"] and cons2 + used == ring.prod


def test_a_truncated_copy_stops_before_the_partial_record():
    ring = Ring()
    ring.put(b"whole")
    ring.put(b"cut short")
    records, used = parse_records(ring.blob(0)[:20])
    assert records == [b"whole"] and used == 16
