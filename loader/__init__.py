"""bpftrace_loader: runs a CompiledProgram in the kernel through bpf() and perf_event_open().

The public entry point is `bpftrace_loader.session.Session`; `listing.list_probes()` serves
`-l`/`-lv`.  Layers, bottom up: uapi (constants and structs) -> syscalls -> elf, maps,
programs, attach, ringbuf -> decode (bytes -> values and events) -> session.  Exceptions the
front ends catch are in errors.py (`LoaderError` and its subclasses).  Imports nothing from
the compiler but its artifact/types contract, and nothing from Jupyter.
"""
