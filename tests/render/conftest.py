"""Helpers shared by the renderer tests: building map snapshots by hand."""
from __future__ import annotations

import pytest

from bpftrace_compiler.artifact import MapSpec
from bpftrace_compiler.types import Kind, SizedType
from bpftrace_loader.values import MapSnapshot


def make_snapshot(name: str, value_type: SizedType, entries: list,
                  key_type: SizedType | None = None, internal: bool = False) -> MapSnapshot:
    spec = MapSpec(name, "hash", key_type.size if key_type else 8, value_type.size, 4096,
                   key_type=key_type, value_type=value_type, internal=internal,
                   bucketed=value_type.kind in (Kind.HIST, Kind.LHIST))
    return MapSnapshot(spec, list(entries))


@pytest.fixture
def snapshot():
    return make_snapshot
