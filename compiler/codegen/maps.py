"""Map access in generated code: key layouts, reads, plain updates and in-place per-CPU
aggregation updates.

Owns `MapLowering`, mixed into `lower.Lowerer`: keys are zero-filled buffers laid out as the
map's key type (several keys as a C tuple, hist/lhist with a trailing u64 bucket), missing
entries read as zero, and aggregations look the slot up and update it in place (the CPU
owns its slot), creating it with an update on a miss.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Optional

from llvmlite import ir

from .. import ast
from ..passes.type_rules import is_scalar
from ..types import SizedType
from .builder import I64, I8P

ZERO = ir.Constant(I64, 0)


def bucket_offset(key_type: Optional[SizedType]) -> int:
    return 0 if key_type is None else (key_type.size + 7) // 8 * 8


class MapLowering:
    def map_key(self, m: ast.Map, bucket: Optional[ir.Value] = None) -> ir.Value:
        info = self.analysis.maps[m.name]
        key_t = info.key_type
        size = bucket_offset(key_t) + (8 if bucket is not None else 0)
        size = max(size, 8)
        key = self.bb.alloca_bytes(size, "key_" + m.name.lstrip("@"))
        if key_t is not None:
            if len(m.keys) == 1:
                self.store_value(key, self.expr(m.keys[0]), m.keys[0].type, key_t)
            else:
                for k, kt, off in zip(m.keys, info.key_args, key_t.tuple_offsets()):
                    self.store_value(key, self.expr(k), k.type, kt, off)
        if bucket is not None:
            self.bb.store_int(key, bucket_offset(key_t), bucket)
        return key

    def map_store(self, m: ast.Map, value: ir.Value, src_t: SizedType) -> None:
        info = self.analysis.maps[m.name]
        key = self.map_key(m)
        if is_scalar(info.value):
            buf = self.bb.alloca(I64, "val")
            self.b.store(self.to_i64(value), buf)
        else:
            buf = self.bb.alloca_bytes(info.value.size, "val")
            self.store_value(buf, value, src_t, info.value)
        self.bb.map_update(m.name, key, buf)

    def map_read(self, m: ast.Map, key: Optional[ir.Value] = None) -> ir.Value:
        info = self.analysis.maps[m.name]
        key = key if key is not None else self.map_key(m)
        slot = self.bb.map_lookup(m.name, key)
        found = self.b.icmp_unsigned("!=", slot, ir.Constant(I8P, None))
        if is_scalar(info.value):
            out = self.bb.alloca(I64, "read_" + m.name.lstrip("@"))
            self.b.store(ZERO, out)
            with self.b.if_then(found):
                self.b.store(self.bb.load_int(slot, 0, 8), out)
            return self.b.load(out)
        out = self.bb.alloca_bytes(info.value.size, "read_" + m.name.lstrip("@"))
        with self.b.if_then(found):
            self.bb.memcpy(out, slot, info.value.size)
        return out

    @contextmanager
    def map_slot(self, m: ast.Map, initial: ir.Value, size: int, bucket=None, create_if=None):
        """Yield a pointer to the (per-CPU) value of m[key], created from `initial` (a
        pointer to `size` bytes) when missing (and `create_if` holds).  The body runs only
        for an existing entry."""
        key = self.map_key(m, bucket)
        slot = self.bb.map_lookup(m.name, key)
        found = self.b.icmp_unsigned("!=", slot, ir.Constant(I8P, None))
        with self.b.if_else(found) as (then, orelse):
            with then:
                yield slot
            with orelse:
                if create_if is None:
                    self.bb.map_update(m.name, key, initial)
                else:
                    with self.b.if_then(create_if):
                        self.bb.map_update(m.name, key, initial)
