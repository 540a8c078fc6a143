"""Install the bpftrace kernelspec: `python -m bpftrace_kernel install [--user|--sys-prefix|--prefix P]`.

Owns `get_kernel_dict` (kernel.json with this interpreter's absolute path, optionally
launched through `sudo -n` for BPF privileges), `write_kernel_spec` (kernel.json plus the
logos into a directory) and `install` (through jupyter_client's KernelSpecManager).
Modelled on bash_kernel's installer.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import importlib
import tempfile
from pathlib import Path
from typing import Optional

SPEC_DIR = Path(importlib.import_module("bpftrace_kernel.kernelspec").__file__).resolve().parent
LOGOS = ("logo-32x32.png", "logo-64x64.png", "logo-svg.svg")
PRIVILEGE_MODES = ("none", "sudo")


def get_kernel_dict(executable: Optional[str] = None, privileged: str = "none",
                    display_name: Optional[str] = None, env: Optional[dict] = None) -> dict:
    """The kernel.json content: the template with an absolute interpreter in argv."""
    spec = json.loads((SPEC_DIR / "kernel.json").read_text())
    python = os.path.abspath(executable or sys.executable)
    argv = [python] + spec["argv"][1:]
    if privileged == "sudo":
        # -n: fail instead of prompting (no tty); -E keeps JUPYTER_* and PATH for the kernel
        argv = ["sudo", "-n", "-E"] + argv
    elif privileged != "none":
        raise ValueError(f"unknown privilege mode {privileged!r} (choose from {PRIVILEGE_MODES})")
    spec["argv"] = argv
    if display_name:
        spec["display_name"] = display_name
    elif privileged == "sudo":
        spec["display_name"] = spec["display_name"] + " (sudo)"
    if env:
        spec["env"] = dict(spec.get("env", {}), **env)
    return spec


def write_kernel_spec(path: Path, **kwargs) -> Path:
    """Write kernel.json and the logos into `path` (created if missing)."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o755)
    for logo in LOGOS:
        if (SPEC_DIR / logo).is_file():
            shutil.copy(SPEC_DIR / logo, path / logo)
    (path / "kernel.json").write_text(json.dumps(get_kernel_dict(**kwargs), indent=2) + "\n")
    return path


def install(user: bool = False, prefix: Optional[str] = None, name: str = "bpftrace",
            **kwargs) -> str:
    """Install the spec; returns the directory it went to."""
    from jupyter_client.kernelspec import KernelSpecManager
    with tempfile.TemporaryDirectory() as td:
        write_kernel_spec(Path(td) / name, **kwargs)
        return KernelSpecManager().install_kernel_spec(str(Path(td) / name), name,
                                                       user=user, prefix=prefix)


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bpftrace_kernel install",
                                description="Install the bpftrace Jupyter kernelspec.")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--user", action="store_true", help="install for the current user")
    where.add_argument("--sys-prefix", action="store_true",
                       help=f"install into sys.prefix ({sys.prefix}), e.g. a virtualenv")
    where.add_argument("--prefix", help="install into PREFIX/share/jupyter/kernels")
    p.add_argument("--name", default="bpftrace", help="kernelspec name (default: bpftrace)")
    p.add_argument("--display-name", help="name shown in the launcher")
    p.add_argument("--privileged", choices=PRIVILEGE_MODES, default="none",
                   help="'sudo': launch the kernel through `sudo -n` (needs a sudoers rule; "
                        "see docs/kernel.md)")
    args = p.parse_args(argv)
    prefix = sys.prefix if args.sys_prefix else args.prefix
    user = args.user or (prefix is None and os.geteuid() != 0)
    dest = install(user=user, prefix=prefix, name=args.name,
                   display_name=args.display_name, privileged=args.privileged)
    print(f"Installed the bpftrace kernelspec in {dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
