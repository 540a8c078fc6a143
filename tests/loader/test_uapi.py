"""ctypes layouts must match the kernel's UAPI headers byte for byte."""
import ctypes

import pytest

from bpftrace_loader import uapi


@pytest.mark.parametrize("struct, size", [
    (uapi.MapCreateAttr, 80),        # up to map_token_fd (6.9+)
    (uapi.MapElemAttr, 32),
    (uapi.MapBatchAttr, 56),
    (uapi.ProgLoadAttr, 152),        # up to fd_array_cnt (6.14+)
    (uapi.TestRunAttr, 80),
    (uapi.RawTracepointOpenAttr, 24),
    (uapi.PerfEventAttr, uapi.PERF_ATTR_SIZE_VER8),
    (uapi.BpfInsn, 8),
])
def test_struct_sizes(struct, size):
    assert ctypes.sizeof(struct) == size


@pytest.mark.parametrize("struct, field, offset", [
    (uapi.MapCreateAttr, "map_name", 28),
    (uapi.MapCreateAttr, "btf_fd", 48),
    (uapi.MapCreateAttr, "map_extra", 64),
    (uapi.MapBatchAttr, "count", 32),
    (uapi.MapBatchAttr, "elem_flags", 40),
    (uapi.ProgLoadAttr, "log_buf", 32),
    (uapi.ProgLoadAttr, "prog_name", 48),
    (uapi.ProgLoadAttr, "expected_attach_type", 68),
    (uapi.ProgLoadAttr, "attach_btf_id", 108),
    (uapi.ProgLoadAttr, "log_true_size", 140),
    (uapi.TestRunAttr, "ctx_in", 48),
    (uapi.PerfEventAttr, "wakeup_events", 48),
    (uapi.PerfEventAttr, "config1", 56),
    (uapi.PerfEventAttr, "config2", 64),
    (uapi.PerfEventAttr, "sample_max_stack", 108),
    (uapi.PerfEventAttr, "config3", 128),
    (uapi.LinkCreateAttr, "attach_type", 8),
])
def test_field_offsets(struct, field, offset):
    assert getattr(struct, field).offset == offset


def test_insn_register_nibbles():
    insn = uapi.BpfInsn.from_buffer_copy(bytes([0x18, 0x21, 0, 0, 7, 0, 0, 0]))
    assert (insn.code, insn.dst_reg, insn.src_reg, insn.imm) == (0x18, 1, 2, 7)


def test_ioctl_numbers():
    # _IOW('$', 8, __u32) = dir 1 << 30 | size 4 << 16 | '$' << 8 | 8
    assert uapi.PERF_EVENT_IOC_SET_BPF == (1 << 30) | (4 << 16) | (ord("$") << 8) | 8
    assert uapi.PERF_EVENT_IOC_ENABLE == ord("$") << 8
