"""Kernel UAPI constants and ctypes structs used by the loader.

Owns the numbers and struct layouts copied from `include/uapi/linux/bpf.h` and
`include/uapi/linux/perf_event.h` (Linux 6.18), under their UAPI names: bpf() commands, map,
program and attach types, one ctypes struct per `union bpf_attr` member we use, and
`perf_event_attr` (PERF_ATTR_SIZE_VER8, 136 bytes).  Data only: no syscalls here.
"""
from __future__ import annotations

import ctypes
from enum import IntEnum

u32 = ctypes.c_uint32
u64 = ctypes.c_uint64
s32 = ctypes.c_int32


class Cmd(IntEnum):
    """enum bpf_cmd"""
    MAP_CREATE = 0
    MAP_LOOKUP_ELEM = 1
    MAP_UPDATE_ELEM = 2
    MAP_DELETE_ELEM = 3
    MAP_GET_NEXT_KEY = 4
    PROG_LOAD = 5
    PROG_TEST_RUN = 10
    OBJ_GET_INFO_BY_FD = 15
    RAW_TRACEPOINT_OPEN = 17
    MAP_FREEZE = 22
    MAP_LOOKUP_BATCH = 24
    LINK_CREATE = 28
    ITER_CREATE = 33


class MapType(IntEnum):
    """enum bpf_map_type"""
    HASH = 1
    ARRAY = 2
    PERF_EVENT_ARRAY = 4
    PERCPU_HASH = 5
    PERCPU_ARRAY = 6
    STACK_TRACE = 7
    LRU_HASH = 9
    LRU_PERCPU_HASH = 10
    RINGBUF = 27


PERCPU_MAP_TYPES = frozenset({MapType.PERCPU_HASH, MapType.PERCPU_ARRAY, MapType.LRU_PERCPU_HASH})


class ProgType(IntEnum):
    """enum bpf_prog_type"""
    KPROBE = 2
    TRACEPOINT = 5
    PERF_EVENT = 7
    RAW_TRACEPOINT = 17
    TRACING = 26


class AttachType(IntEnum):
    """enum bpf_attach_type (the ones tracing uses)"""
    TRACE_RAW_TP = 23
    TRACE_FENTRY = 24
    TRACE_FEXIT = 25
    TRACE_ITER = 28
    PERF_EVENT = 41


# map_flags
BPF_F_NO_PREALLOC = 1 << 0
BPF_F_RDONLY_PROG = 1 << 7
# BPF_MAP_UPDATE_ELEM flags
BPF_ANY = 0
# ld_imm64 src_reg values
BPF_PSEUDO_MAP_FD = 1
BPF_PSEUDO_MAP_VALUE = 2
BPF_OBJ_NAME_LEN = 16

# ring buffer record header bits (kernel/bpf/ringbuf.c, uapi BPF_RINGBUF_*)
BPF_RINGBUF_BUSY_BIT = 1 << 31
BPF_RINGBUF_DISCARD_BIT = 1 << 30
BPF_RINGBUF_HDR_SZ = 8


class MapCreateAttr(ctypes.Structure):
    """union bpf_attr, BPF_MAP_CREATE member"""
    _fields_ = [("map_type", u32), ("key_size", u32), ("value_size", u32),
                ("max_entries", u32), ("map_flags", u32), ("inner_map_fd", u32),
                ("numa_node", u32), ("map_name", ctypes.c_char * BPF_OBJ_NAME_LEN),
                ("map_ifindex", u32), ("btf_fd", u32), ("btf_key_type_id", u32),
                ("btf_value_type_id", u32), ("btf_vmlinux_value_type_id", u32),
                ("map_extra", u64), ("value_type_btf_obj_fd", s32), ("map_token_fd", s32)]


class MapElemAttr(ctypes.Structure):
    """union bpf_attr, BPF_MAP_*_ELEM members (value and next_key share a slot)"""
    _fields_ = [("map_fd", u32), ("_pad", u32), ("key", u64), ("value", u64), ("flags", u64)]


class MapBatchAttr(ctypes.Structure):
    """union bpf_attr, BPF_MAP_*_BATCH member"""
    _fields_ = [("in_batch", u64), ("out_batch", u64), ("keys", u64), ("values", u64),
                ("count", u32), ("map_fd", u32), ("elem_flags", u64), ("flags", u64)]


class ProgLoadAttr(ctypes.Structure):
    """union bpf_attr, BPF_PROG_LOAD member"""
    _fields_ = [("prog_type", u32), ("insn_cnt", u32), ("insns", u64), ("license", u64),
                ("log_level", u32), ("log_size", u32), ("log_buf", u64),
                ("kern_version", u32), ("prog_flags", u32),
                ("prog_name", ctypes.c_char * BPF_OBJ_NAME_LEN),
                ("prog_ifindex", u32), ("expected_attach_type", u32), ("prog_btf_fd", u32),
                ("func_info_rec_size", u32), ("func_info", u64), ("func_info_cnt", u32),
                ("line_info_rec_size", u32), ("line_info", u64), ("line_info_cnt", u32),
                ("attach_btf_id", u32), ("attach_prog_fd", u32), ("core_relo_cnt", u32),
                ("fd_array", u64), ("core_relos", u64), ("core_relo_rec_size", u32),
                ("log_true_size", u32), ("prog_token_fd", s32), ("fd_array_cnt", u32)]


class TestRunAttr(ctypes.Structure):
    """union bpf_attr, BPF_PROG_TEST_RUN member"""
    _fields_ = [("prog_fd", u32), ("retval", u32), ("data_size_in", u32),
                ("data_size_out", u32), ("data_in", u64), ("data_out", u64),
                ("repeat", u32), ("duration", u32), ("ctx_size_in", u32),
                ("ctx_size_out", u32), ("ctx_in", u64), ("ctx_out", u64),
                ("flags", u32), ("cpu", u32), ("batch_size", u32), ("_pad", u32)]


class RawTracepointOpenAttr(ctypes.Structure):
    """union bpf_attr, BPF_RAW_TRACEPOINT_OPEN member"""
    _fields_ = [("name", u64), ("prog_fd", u32), ("_pad", u32), ("cookie", u64)]


class LinkCreateAttr(ctypes.Structure):
    """union bpf_attr, BPF_LINK_CREATE member (perf_event variant: bpf_cookie)"""
    _fields_ = [("prog_fd", u32), ("target_fd", u32), ("attach_type", u32), ("flags", u32),
                ("bpf_cookie", u64), ("_rest", u64 * 4)]


class IterCreateAttr(ctypes.Structure):
    """union bpf_attr, BPF_ITER_CREATE member"""
    _fields_ = [("link_fd", u32), ("flags", u32)]


class ObjInfoAttr(ctypes.Structure):
    """union bpf_attr, BPF_OBJ_GET_INFO_BY_FD member"""
    _fields_ = [("bpf_fd", u32), ("info_len", u32), ("info", u64)]


class ProgInfo(ctypes.Structure):
    """struct bpf_prog_info, the leading fields we read"""
    _fields_ = [("type", u32), ("id", u32), ("tag", ctypes.c_uint8 * 8),
                ("jited_prog_len", u32), ("xlated_prog_len", u32),
                ("jited_prog_insns", u64), ("xlated_prog_insns", u64),
                ("load_time", u64), ("created_by_uid", u32), ("nr_map_ids", u32),
                ("map_ids", u64), ("name", ctypes.c_char * BPF_OBJ_NAME_LEN)]


class BpfInsn(ctypes.LittleEndianStructure):
    """struct bpf_insn"""
    _fields_ = [("code", ctypes.c_uint8), ("dst_reg", ctypes.c_uint8, 4),
                ("src_reg", ctypes.c_uint8, 4), ("off", ctypes.c_int16), ("imm", s32)]


BPF_LD_IMM64 = 0x18     # BPF_LD | BPF_IMM | BPF_DW


# ---- perf_event.h

class PerfType(IntEnum):
    HARDWARE = 0
    SOFTWARE = 1
    TRACEPOINT = 2
    HW_CACHE = 3
    RAW = 4
    BREAKPOINT = 5


class PerfSwId(IntEnum):
    CPU_CLOCK = 0
    TASK_CLOCK = 1
    PAGE_FAULTS = 2
    CONTEXT_SWITCHES = 3
    CPU_MIGRATIONS = 4
    PAGE_FAULTS_MIN = 5
    PAGE_FAULTS_MAJ = 6
    ALIGNMENT_FAULTS = 7
    EMULATION_FAULTS = 8
    DUMMY = 9
    BPF_OUTPUT = 10


class PerfHwId(IntEnum):
    CPU_CYCLES = 0
    INSTRUCTIONS = 1
    CACHE_REFERENCES = 2
    CACHE_MISSES = 3
    BRANCH_INSTRUCTIONS = 4
    BRANCH_MISSES = 5
    BUS_CYCLES = 6
    STALLED_CYCLES_FRONTEND = 7
    STALLED_CYCLES_BACKEND = 8
    REF_CPU_CYCLES = 9


# perf_event_attr flag bits (the bitfield word at offset 40)
PERF_ATTR_FLAG_DISABLED = 1 << 0
PERF_ATTR_FLAG_FREQ = 1 << 10

PERF_FLAG_FD_CLOEXEC = 1 << 3

# ioctls: _IO('$', 0), _IO('$', 1), _IOW('$', 8, __u32)
PERF_EVENT_IOC_ENABLE = 0x2400
PERF_EVENT_IOC_DISABLE = 0x2401
PERF_EVENT_IOC_SET_BPF = 0x40042408

PERF_ATTR_SIZE_VER8 = 136


class PerfEventAttr(ctypes.Structure):
    """struct perf_event_attr (unions named by their first member)"""
    _fields_ = [("type", u32), ("size", u32), ("config", u64), ("sample_period", u64),
                ("sample_type", u64), ("read_format", u64), ("flags", u64),
                ("wakeup_events", u32), ("bp_type", u32), ("config1", u64), ("config2", u64),
                ("branch_sample_type", u64), ("sample_regs_user", u64),
                ("sample_stack_user", u32), ("clockid", s32), ("sample_regs_intr", u64),
                ("aux_watermark", u32), ("sample_max_stack", ctypes.c_uint16),
                ("_reserved_2", ctypes.c_uint16), ("aux_sample_size", u32),
                ("_reserved_3", u32), ("sig_data", u64), ("config3", u64)]
