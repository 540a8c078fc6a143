"""LLVM IR text -> BPF ELF object (and BPF assembly), in-process or in a worker process.

Owns `emit_object()` and `emit_assembly()`.  llvmlite is imported lazily so that importing
the compiler stays cheap.  An LLVM backend error calls exit() and would kill the caller
(the Jupyter kernel compiles in-process), so `isolated=True` runs LLVM in the long-lived
worker of compiler/llvm_worker.py and turns a dead worker into a CompileError.
"""
from __future__ import annotations

import threading

TRIPLE = "bpfel-unknown-none"
CPU = "v3"

_lock = threading.Lock()
_machine = None


def _target_machine():
    global _machine
    with _lock:
        if _machine is None:
            from llvmlite import binding as llvm
            llvm.initialize_all_targets()
            llvm.initialize_all_asmprinters()
            target = llvm.Target.from_triple(TRIPLE)
            _machine = target.create_target_machine(cpu=CPU, opt=2, reloc="static",
                                                    codemodel="default")
        return _machine


def _optimised_module(ir_text: str):
    from llvmlite import binding as llvm
    machine = _target_machine()
    mod = llvm.parse_assembly(ir_text)
    mod.verify()
    pto = llvm.create_pipeline_tuning_options(speed_level=2)
    pb = llvm.create_pass_builder(machine, pto)
    pm = pb.getModulePassManager()
    pm.run(mod, pb)
    return machine, mod


def emit_in_process(ir_text: str, want_asm: bool = False) -> tuple[bytes, str]:
    machine, mod = _optimised_module(ir_text)
    elf = machine.emit_object(mod)
    asm = machine.emit_assembly(mod) if want_asm else ""
    return elf, asm


def _emit(ir_text: str, isolated: bool, want_asm: bool) -> tuple[bytes, str]:
    if isolated:
        from ..llvm_worker import run_in_worker
        return run_in_worker(ir_text, want_asm=want_asm)
    try:
        return emit_in_process(ir_text, want_asm)
    except RuntimeError as exc:      # IR the verifier rejects: a compiler bug, not a crash
        from ..diagnostics import CompileError
        raise CompileError.single(f"LLVM failed while generating BPF code: {exc}") from None


def emit_object(ir_text: str, isolated: bool = False) -> bytes:
    """The BPF ELF object for `ir_text`.  Raises CompileError if LLVM fails or dies."""
    return _emit(ir_text, isolated, False)[0]


def emit_assembly(ir_text: str, isolated: bool = False) -> str:
    return _emit(ir_text, isolated, True)[1]
