"""Conformance suite: bpftrace 0.17 and pybpftrace run side by side on the same programs and workloads."""
