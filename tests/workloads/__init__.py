"""Workloads for the conformance and benchmark suites: tiny C programs built at test time."""
