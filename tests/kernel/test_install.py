"""Kernelspec installer: kernel.json content, files, install into a prefix."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from jupyter_client.kernelspec import KernelSpecManager

from bpftrace_kernel.install import get_kernel_dict, write_kernel_spec


def test_kernel_dict_uses_this_interpreter_and_message_interrupts():
    spec = get_kernel_dict()
    assert spec["argv"] == [sys.executable, "-m", "bpftrace_kernel", "-f", "{connection_file}"]
    assert Path(spec["argv"][0]).is_absolute()
    assert spec["language"] == "bpftrace"
    assert spec["interrupt_mode"] == "message"
    assert spec["metadata"]["debugger"] is False


def test_sudo_variant_and_env():
    spec = get_kernel_dict(privileged="sudo", env={"A": "1"})
    assert spec["argv"][:3] == ["sudo", "-n", "-E"] and spec["argv"][3] == sys.executable
    assert "(sudo)" in spec["display_name"] and spec["env"]["A"] == "1"


def test_write_kernel_spec_has_logos(tmp_path):
    d = write_kernel_spec(tmp_path / "bt")
    names = sorted(p.name for p in d.iterdir())
    assert names == ["kernel.json", "logo-32x32.png", "logo-64x64.png", "logo-svg.svg"]
    assert (d / "logo-64x64.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads((d / "kernel.json").read_text())["display_name"] == "bpftrace"


def test_install_into_prefix_from_the_command_line(tmp_path):
    out = subprocess.run([sys.executable, "-m", "bpftrace_kernel", "install", "--prefix", str(tmp_path)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    specs = KernelSpecManager(kernel_dirs=[str(tmp_path / "share/jupyter/kernels")]).find_kernel_specs()
    assert "bpftrace" in specs
    ks = KernelSpecManager(kernel_dirs=[str(tmp_path / "share/jupyter/kernels")]).get_kernel_spec("bpftrace")
    assert ks.language == "bpftrace" and ks.interrupt_mode == "message"
