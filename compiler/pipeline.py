"""The compiler pipeline: source text -> `CompiledProgram`.

Owns `CompileOptions` (bpftrace's BPFTRACE_* knobs, --unsafe, -p, the kernel-info provider)
and `compile_source()`.  The passes run in order and the pipeline stops between passes when
there are errors (like bpftrace's PassManager):
  parse -> expand attach points (needs params) -> semantic analysis (needs the expanded
  targets for `args`) -> map planning (needs the typed maps) -> LLVM IR -> BPF ELF.
Importing this module is cheap: lark and llvmlite load on first compile.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from .artifact import CompiledProgram
from .diagnostics import CompileError, Diagnostics
from .source import Source

MAX_STRLEN = 200
RISKY_STACK_BYTES = 384


@dataclass
class CompileOptions:
    strlen: int = 64                    # BPFTRACE_STRLEN
    map_keys_max: int = 4096            # BPFTRACE_MAP_KEYS_MAX
    max_probes: int = 512               # BPFTRACE_MAX_PROBES
    unsafe: bool = False                # --unsafe
    pid: Optional[int] = None           # -p: every probe gets a `pid == N` filter
    cpid: Optional[int] = None          # -c: value of the `cpid` builtin
    cat_bytes_max: int = 10240          # BPFTRACE_CAT_BYTES_MAX
    isolated_emit: bool = False         # run LLVM in a worker process (Jupyter kernel)
    tracefs: str = "/sys/kernel/tracing"
    kernel: Optional[object] = None     # a tracepoints.KernelInfo; default reads `tracefs`
    want_asm: bool = False              # fill CompiledProgram.asm (-v)
    extra: dict = field(default_factory=dict)

    def kernel_info(self):
        if self.kernel is None:
            self.kernel = _tracefs_cache(self.tracefs)
        return self.kernel


_KERNEL_CACHE: dict = {}


def _tracefs_cache(root: str):
    from .tracepoints import TracefsKernelInfo
    if root not in _KERNEL_CACHE:
        _KERNEL_CACHE[root] = TracefsKernelInfo(root)
    return _KERNEL_CACHE[root]


def _check_options(options: CompileOptions) -> None:
    if options.strlen > MAX_STRLEN:
        diags = Diagnostics()
        diags.error(f"'BPFTRACE_STRLEN' {options.strlen} exceeds the current maximum of "
                    f"{MAX_STRLEN} bytes.\nThis limitation is because strings are currently "
                    "stored on the 512 byte BPF stack.\nLong strings will be pursued in: "
                    "https://github.com/iovisor/bpftrace/issues/305")
        raise CompileError(diags)


def _with_program_types(options: CompileOptions, program, kernel) -> CompileOptions:
    """A copy of `options` whose extra["c_types"] resolves C type names for this program:
    its own struct/union/enum definitions, then the kernel's BTF."""
    from dataclasses import replace
    from .btf import BtfError
    from .c_types import ProgramTypes
    get_btf = getattr(kernel, "btf", None)
    try:
        types = ProgramTypes(program.c_definitions, load_btf=get_btf)
    except (BtfError, ValueError) as e:
        raise CompileError.single(f"Invalid C definition: {e}") from None
    return replace(options, extra={**options.extra, "c_types": types})


def _front_and_middle(text: str, name: str, params: tuple[str, ...], options: CompileOptions):
    from .parser import parse
    from .passes.probes import expand_probes
    from .passes.semantic import analyse
    from .passes.resources import plan_maps
    program = parse(text, name=name)
    source = Source(name, text, program.column_shifts)
    diags = Diagnostics(source)
    kernel = options.kernel_info()
    options = _with_program_types(options, program, kernel)
    expanded = expand_probes(program, kernel, params, options.max_probes, diags,
                             options.pid)
    diags.raise_if_errors()
    analysis = analyse(expanded, kernel, options, params, diags)
    diags.raise_if_errors()
    maps = plan_maps(analysis, options.map_keys_max)
    return diags, analysis, maps


def program_span(analysis):
    """The span of the first probe (where a whole-program LLVM failure is reported)."""
    return analysis.units[0].probe.span if analysis.units else None


def dump_ir(text: str, *, name: str = "stdin", params: tuple[str, ...] = (),
            options: CompileOptions | None = None) -> str:
    """The LLVM IR for a program (bpftrace -d), without emitting an object."""
    options = options or CompileOptions()
    _check_options(options)
    from .codegen.module import lower_program
    diags, analysis, maps = _front_and_middle(text, name, params, options)
    ir_text, _, _ = lower_program(analysis, maps, options, params, diags)
    diags.raise_if_errors()
    return ir_text


def compile_source(text: str, *, name: str = "stdin", params: tuple[str, ...] = (),
                   options: CompileOptions | None = None) -> CompiledProgram:
    """Compile bpftrace source to a `CompiledProgram`; raises CompileError on bad input."""
    options = options or CompileOptions()
    params = tuple(params)
    _check_options(options)
    from .codegen.emit import emit_assembly, emit_object
    from .codegen.module import lower_program
    diags, analysis, maps = _front_and_middle(text, name, params, options)
    ir_text, probes, stack_peak = lower_program(analysis, maps, options, params, diags)
    diags.raise_if_errors()
    # Our stack estimate is checked before LLVM; near the limit, register spills could still
    # push LLVM over 512 bytes (a fatal exit), so emit in the worker process then.
    risky = stack_peak > RISKY_STACK_BYTES
    isolated = options.isolated_emit or risky
    try:
        elf = emit_object(ir_text, isolated=isolated)
        asm = emit_assembly(ir_text, isolated=isolated) if options.want_asm else ""
    except CompileError:
        if not risky:
            raise
        from .codegen.module import STACK_MESSAGE
        raise CompileError.single(STACK_MESSAGE, program_span(analysis), diags.source) from None
    return CompiledProgram(
        elf=elf, probes=tuple(probes), maps=tuple(maps), actions=tuple(analysis.actions),
        probe_names=tuple(analysis.probe_names),
        strftime_formats=tuple(analysis.strftime_formats), ir=ir_text, asm=asm,
        source_name=name, warnings=diags.render() if diags.items else "",
        options={"strlen": options.strlen, "cat_bytes_max": options.cat_bytes_max,
                 "map_keys_max": options.map_keys_max, "unsafe": options.unsafe})
