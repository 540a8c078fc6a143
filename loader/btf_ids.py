"""Type ids in the kernel's BTF, for programs that attach by BTF id (fentry/fexit, tp_btf).

Owns `btf_type_id(name, kind)`: a scan of /sys/kernel/btf/vmlinux's type section that only
decodes names and kinds (the compiler owns full BTF parsing); results are cached.
"""
from __future__ import annotations

import functools
import struct
from typing import Optional

VMLINUX_BTF = "/sys/kernel/btf/vmlinux"
BTF_MAGIC = 0xEB9F
KIND_TYPEDEF, KIND_FUNC = 8, 12
KINDS = {"typedef": KIND_TYPEDEF, "func": KIND_FUNC}

# bytes following the 12-byte `struct btf_type`, per kind: (fixed, per vlen item)
_EXTRA = {1: (4, 0), 2: (0, 0), 3: (12, 0), 4: (0, 12), 5: (0, 12), 6: (0, 8), 7: (0, 0),
          8: (0, 0), 9: (0, 0), 10: (0, 0), 11: (0, 0), 12: (0, 0), 13: (0, 8), 14: (4, 0),
          15: (0, 12), 16: (0, 0), 17: (4, 0), 18: (0, 0), 19: (0, 12)}


@functools.lru_cache(maxsize=1)
def _index(path: str = VMLINUX_BTF) -> dict[tuple[int, str], int]:
    with open(path, "rb") as f:
        data = f.read()
    magic, _ver, _flags, hdr_len, type_off, type_len, str_off, _str_len = \
        struct.unpack_from("<HBBIIIII", data)
    if magic != BTF_MAGIC:
        raise ValueError(f"{path} is not BTF")
    types, strings = hdr_len + type_off, hdr_len + str_off
    out: dict[tuple[int, str], int] = {}
    pos, end, type_id = types, types + type_len, 1
    while pos < end:
        name_off, info, _ = struct.unpack_from("<III", data, pos)
        kind, vlen = (info >> 24) & 0x1F, info & 0xFFFF
        if kind in (KIND_FUNC, KIND_TYPEDEF) and name_off:
            name_end = data.index(b"\0", strings + name_off)
            out.setdefault((kind, data[strings + name_off:name_end].decode()), type_id)
        fixed, per_item = _EXTRA.get(kind, (0, 0))
        pos += 12 + fixed + per_item * vlen
        type_id += 1
    return out


def btf_type_id(name: str, kind: str = "func", path: str = VMLINUX_BTF) -> Optional[int]:
    """The vmlinux BTF id of FUNC/TYPEDEF `name`, or None."""
    try:
        return _index(path).get((KINDS[kind], name))
    except (OSError, ValueError, struct.error):
        return None
