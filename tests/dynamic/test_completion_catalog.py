"""The notebook's probe completion uses the same catalog as -l: uprobe functions of a binary
(library names resolved), usdt probes, kfunc names from BTF."""
from __future__ import annotations

from bpftrace_kernel.completion import ProbeCatalog


def test_uprobe_and_usdt_completion(dynapp):
    cat = ProbeCatalog()
    assert cat.probe_matches(f"uprobe:{dynapp}:dyn_a") == [f"uprobe:{dynapp}:dyn_add"]
    assert cat.probe_matches(f"usdt:{dynapp}:dynapp:t") == [f"usdt:{dynapp}:dynapp:tick"]
    assert f"ur:{dynapp}:" in cat.probe_matches(f"ur:{str(dynapp)[:-2]}")
    assert "uprobe:libc:malloc" in cat.probe_matches("uprobe:libc:mallo")


def test_kfunc_completion_from_btf():
    assert ProbeCatalog().probe_matches("kfunc:vfs_rea")[:2] == ["kfunc:vfs_read",
                                                                 "kfunc:vfs_readlink"]
