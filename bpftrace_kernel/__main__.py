"""`python -m bpftrace_kernel`: start the kernel (what kernel.json runs), or
`python -m bpftrace_kernel install [--user | --sys-prefix | --prefix P]` to install its spec."""
from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["install"]:
        from .install import main as install_main
        sys.exit(install_main(argv[1:]))
    from ipykernel.kernelapp import IPKernelApp

    from .kernel import BpftraceKernel
    IPKernelApp.launch_instance(kernel_class=BpftraceKernel)


if __name__ == "__main__":
    main()
