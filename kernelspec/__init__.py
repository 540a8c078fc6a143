"""The kernelspec template and logos, shipped as package data of bpftrace_kernel."""
