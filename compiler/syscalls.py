"""Syscall numbers by the names the `syscalls:sys_enter_<name>` tracepoints use (x86_64).

Owns `syscall_numbers()`: the table that lets a `syscalls:sys_enter_*`-style wildcard run as
one raw tracepoint program on `raw_syscalls` filtered by syscall id.  The numbers come from
the installed `asm/unistd_64.h` when there is one; tracepoint names that differ from the
`__NR_` names (the kernel's SYSCALL_DEFINE names such as `newstat`) and syscalls newer than
the header come from the kernel's `arch/x86/entry/syscalls/syscall_64.tbl`.  A name missing
from the table simply keeps its perf tracepoint.  Pure stdlib, read once per process.
"""
from __future__ import annotations

import functools
import platform
import re

UNISTD_HEADERS = ("/usr/include/x86_64-linux-gnu/asm/unistd_64.h", "/usr/include/asm/unistd_64.h")

# syscall_64.tbl entries whose entry point (the tracepoint name) is not the __NR_ name, and
# syscalls added after older headers (Linux 6.2 .. 6.18).
_X86_64_EXTRA = {
    "newstat": 4, "newfstat": 5, "newlstat": 6, "sendfile64": 40, "newuname": 63,
    "umount": 166, "uretprobe": 335, "uprobe": 336, "cachestat": 451, "fchmodat2": 452,
    "map_shadow_stack": 453, "futex_wake": 454, "futex_wait": 455, "futex_requeue": 456,
    "statmount": 457, "listmount": 458, "lsm_get_self_attr": 459, "lsm_set_self_attr": 460,
    "lsm_list_modules": 461, "mseal": 462, "setxattrat": 463, "getxattrat": 464,
    "listxattrat": 465, "removexattrat": 466, "open_tree_attr": 467, "file_getattr": 468,
    "file_setattr": 469,
}
_NR_RE = re.compile(r"^#define __NR_(\w+)\s+(\d+)\s*$", re.M)


@functools.lru_cache(maxsize=1)
def syscall_numbers() -> dict[str, int]:
    """Tracepoint syscall name -> number; empty on other architectures."""
    if platform.machine() != "x86_64":
        return {}
    table: dict[str, int] = {}
    for path in UNISTD_HEADERS:
        try:
            with open(path) as f:
                table = {m.group(1): int(m.group(2)) for m in _NR_RE.finditer(f.read())}
            break
        except OSError:
            continue
    table.update(_X86_64_EXTRA)
    return table
