"""The on-disk compile cache: a repeated compile is answered without compiling, and anything
the output depends on (parameters, options, attached files) makes a different entry."""
import os
import shutil

import pytest

from bpftrace_compiler import compile_cache, pipeline
from bpftrace_compiler.pipeline import CompileOptions


@pytest.fixture
def counted(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("PYBPFTRACE_COMPILE_CACHE", raising=False)
    calls = []
    real = pipeline.compile_source

    def spy(*args, **kwargs):
        calls.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(pipeline, "compile_source", spy)
    return calls


def test_second_compile_comes_from_the_cache(counted):
    src = 'BEGIN { printf("%d\\n", $1); @x[1] = count(); exit(); }'
    first = compile_cache.compile_cached(src, params=("7",))
    second = compile_cache.compile_cached(src, params=("7",))
    assert counted == [src]
    assert second == first and second.elf == first.elf
    assert any(compile_cache.cache_dir().iterdir())


def test_params_and_options_are_part_of_the_key(counted):
    src = "BEGIN { @ = $1; exit(); }"
    compile_cache.compile_cached(src, params=("1",))
    compile_cache.compile_cached(src, params=("2",))
    compile_cache.compile_cached(src, params=("2",), options=CompileOptions(strlen=32))
    assert len(counted) == 3


def test_changed_uprobe_binary_is_a_miss(counted, tmp_path):
    binary = tmp_path / "prog"
    shutil.copy("/bin/true", binary)
    src = f"uprobe:{binary}:0x1000 {{ @ = count(); }}"
    compile_cache.compile_cached(src)
    compile_cache.compile_cached(src)
    assert len(counted) == 1
    binary.write_bytes(binary.read_bytes() + b"\0")
    compile_cache.compile_cached(src)
    assert len(counted) == 2


def test_errors_are_not_cached_and_the_cache_can_be_turned_off(counted, monkeypatch):
    from bpftrace_compiler.diagnostics import CompileError
    for _ in range(2):
        with pytest.raises(CompileError):
            compile_cache.compile_cached("BEGIN { @x = ; }")
    monkeypatch.setenv("PYBPFTRACE_COMPILE_CACHE", "0")
    compile_cache.compile_cached("BEGIN { exit(); }")
    compile_cache.compile_cached("BEGIN { exit(); }")
    assert len(counted) == 4
    assert not os.path.exists(compile_cache.cache_dir())
