#!/bin/sh
# Build (once) and run the profiling lab's demo program, replacing this shell (same pid, so
# `pid == cpid` matches it): main -> outer -> middle -> leaf, spinning on the CPU.
set -e
here=$(dirname "$0")
bin="${TMPDIR:-/tmp}/bpftrace-lab-spin"
if [ ! -x "$bin" ] || [ "$here/spin.c" -nt "$bin" ] || [ "$0" -nt "$bin" ]; then
    cc -O0 -fno-omit-frame-pointer -o "$bin.$$" "$here/spin.c"
    mv "$bin.$$" "$bin"
fi
exec "$bin" "$@"
