"""Message-spec conformance of the real kernel (jupyter_kernel_test), as users install it."""
from __future__ import annotations

import pytest
import jupyter_kernel_test

from harness import REAL


@pytest.mark.root
class BpftraceKernelTests(jupyter_kernel_test.KernelTests):
    kernel_name = REAL
    language_name = "bpftrace"
    file_extension = ".bt"

    code_hello_world = 'BEGIN { printf("hello, world\\n"); exit(); }'
    code_generate_error = "BEGIN { foo(1); }"
    # every display_data of the cell must carry the mime (the status line has text and HTML);
    # PNG plots are checked in test_kernel_real.py
    code_display_data = [
        {"code": 'BEGIN { @x["a"] = 1; exit(); }', "mime": "text/plain"},
        {"code": 'BEGIN { @x["a"] = 1; exit(); }', "mime": "text/html"},
    ]
    completion_samples = [
        {"text": "interv", "matches": ["interval:"]},
        {"text": "tracepoint:raw_sysc", "matches": ["tracepoint:raw_syscalls:"]},
        {"text": "BEGIN { @reads = count(); } END { print(@rea", "matches": ["@reads"]},
    ]
    complete_code_samples = ["BEGIN { exit(); }", "%help"]
    incomplete_code_samples = ["tracepoint:syscalls:sys_enter_read {", 'BEGIN { printf("a']
    invalid_code_samples = ["}"]
    code_inspect_sample = "printf"
