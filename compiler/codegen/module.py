"""One LLVM module for the whole program: map globals, the license and one function per
BPF program.

Owns `lower_program()`, which turns the typed `Analysis` and the planned `MapSpec`s into LLVM
IR text plus the `ProbeSpec`s, and reports a located error when a probe would need more than
the 512-byte BPF stack (checked here, before LLVM, because an LLVM backend error kills the
process).
"""
from __future__ import annotations

from llvmlite import ir

from ..artifact import MapSpec, ProbeSpec
from ..diagnostics import Diagnostics
from ..passes.semantic import Analysis
from .builder import I64, I8, SPILL_MARGIN, STACK_LIMIT, BpfBuilder, finalize_ir
from .lower import Lowerer

STACK_MESSAGE = ("Looks like the BPF stack limit of 512 bytes is exceeded. Please move large "
                 "on stack variables into BPF per-cpu array map.")
TRIPLE = "bpfel-unknown-none"
DATALAYOUT = "e-m:e-p:64:64-i64:64-i128:128-n32:64-S128"


def _declare_maps(module: ir.Module, maps: list[MapSpec]) -> dict:
    out = {}
    for m in maps:
        g = ir.GlobalVariable(module, I64, name=m.elf_symbol)
        g.initializer = ir.Constant(I64, 0)
        g.section = "maps"
        g.align = 8
        out[m.name] = g
    return out


def _license(module: ir.Module) -> None:
    data = bytearray(b"GPL\0")
    ty = ir.ArrayType(I8, len(data))
    g = ir.GlobalVariable(module, ty, name="_license")
    g.initializer = ir.Constant(ty, data)
    g.section = "license"


def lower_program(analysis: Analysis, maps: list[MapSpec], options, params: tuple[str, ...],
                  diags: Diagnostics) -> tuple[str, list[ProbeSpec], int]:
    """IR text, the ProbeSpecs and the largest estimated stack frame (bytes)."""
    module = ir.Module(name="bpftrace")
    module.triple = TRIPLE
    module.data_layout = DATALAYOUT
    _license(module)
    globals_ = _declare_maps(module, maps)
    probes = []
    peak = 0
    for unit in analysis.units:
        bb = BpfBuilder(module, unit.section, "prog_" + unit.section, globals_)
        bb.ring_bytes = next((m.max_entries for m in maps if m.role == "events"), bb.ring_bytes)
        Lowerer(bb, unit, analysis, options, params).lower_unit()
        bb.finish()
        peak = max(peak, bb.stack_bytes)
        if bb.stack_bytes + SPILL_MARGIN > STACK_LIMIT:
            diags.error(STACK_MESSAGE, unit.probe.span)
        span = (unit.probe.span.line, unit.probe.span.col) if unit.probe.span.line else None
        probes.append(ProbeSpec(section=unit.section, prog_type=unit.prog_type,
                                targets=tuple(unit.targets), index=unit.index, source_span=span,
                                expected_attach_type=unit.expected_attach_type,
                                attach_btf_name=unit.attach_btf_name,
                                attach_via=unit.attach_via))
    return finalize_ir(str(module)), probes, peak
