"""The guest lane's kprobe/kretprobe/kfunc/kretfunc cases and how their outputs are judged.

Shared by the in-guest runner (tests/guest/in_guest.py, which runs each case with bpftrace 0.17
and with pybpftrace) and the host-side tests (tests/guest/test_guest_probes.py, which judge the
outputs).  Each case traces a workload process named COMM whose reads are known exactly
(tests/guest/workload.py), so a comm-filtered result is deterministic and comparable byte for
byte; unfiltered programs are compared by shape (map names, keys, histogram totals for COMM).
Stdlib only: it runs inside the guest too.
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

COMM = "pbtload"
# read() sizes of the `reads` workload; 3000 lands in lhist's [2000, ...) bucket.  Each size has
# its own count: bpftrace sorts maps by value and orders ties by hash, so ties would be flaky.
READS = (100, 100, 100, 700, 700, 700, 700, 900, 900, 1500, 3000, 3000, 3000, 3000, 3000)


@dataclass(frozen=True)
class Case:
    name: str
    program: str
    workload: str            # "reads" (wait, read READS, done) or "sleeper" (sleeps 1 ms in a loop)
    ready: tuple[str, ...]   # attachments that must exist before the workload runs: "kprobe:f",
                             # "kretprobe:f", "kfunc:f", "kretfunc:f"
    end: str                 # "exit": the program exits itself; "sigint": Ctrl-C after the workload
    compare: str             # "exact", "hist_total" or "count_line" (see judge())
    expect: str              # what the workload implies for the output: a key of EXPECTATIONS
    note: str = ""


CASES = (
    Case("kprobe_do_nanosleep",
         'kprobe:do_nanosleep { printf("sleep by %d\\n", tid); exit(); }',
         workload="sleeper", ready=(), end="exit", compare="exact", expect="sleeper_pid",
         note="first sleeper wins: the workload sleeps every millisecond"),
    Case("kretprobe_vfs_read_lhist",
         f'kretprobe:vfs_read /comm == "{COMM}"/ {{ @bytes = lhist(retval, 0, 2000, 200); }}\n'
         'interval:s:6 { exit(); }',
         workload="reads", ready=("kretprobe:vfs_read",), end="exit", compare="exact",
         expect="bytes_lhist",
         note="the seed program filtered on the workload's comm so that the counts are exact"),
    Case("kprobe_kretprobe_vfs_read_latency",
         'kprobe:vfs_read { @start[tid] = nsecs; }\n'
         'kretprobe:vfs_read /@start[tid]/ { @ns[comm] = hist(nsecs - @start[tid]); '
         'delete(@start[tid]); }',
         workload="reads", ready=("kprobe:vfs_read", "kretprobe:vfs_read"), end="sigint",
         compare="hist_total", expect="ns_hist_total",
         note="timings differ: compare map names and the workload's histogram total"),
    Case("kprobe_vfs_read_arg2_count",
         f'kprobe:vfs_read /comm == "{COMM}"/ {{ @[arg2] = count(); }}',
         workload="reads", ready=("kprobe:vfs_read",), end="sigint", compare="exact",
         expect="count_by_size", note="arg2 of vfs_read is the byte count asked for"),
    Case("kretprobe_vfs_read_printf",
         f'kretprobe:vfs_read /comm == "{COMM}"/ {{ printf("read %d\\n", retval); }}',
         workload="reads", ready=("kretprobe:vfs_read",), end="sigint", compare="exact",
         expect="printf_sizes", note="one output event per read, in order"),
    Case("kfunc_vfs_read_count",
         'kfunc:vfs_read { @[comm] = count(); }',
         workload="reads", ready=("kfunc:vfs_read",), end="sigint", compare="count_line",
         expect="comm_count"),
    Case("kfunc_vfs_read_args_count",
         f'kfunc:vfs_read /comm == "{COMM}"/ {{ @[args->count] = count(); }}',
         workload="reads", ready=("kfunc:vfs_read",), end="sigint", compare="exact",
         expect="count_by_size", note="kfunc arguments by name, typed from BTF"),
    Case("kretfunc_vfs_read_lhist",
         f'kretfunc:vfs_read /comm == "{COMM}"/ {{ @bytes = lhist(retval, 0, 2000, 200); }}',
         workload="reads", ready=("kretfunc:vfs_read",), end="sigint", compare="exact",
         expect="bytes_lhist"),
    Case("kfunc_vfs_read_btf_deref",
         f'kfunc:vfs_read /comm == "{COMM}"/ '
         '{ @[str(args->file->f_path.dentry->d_name.name)] = count(); }',
         workload="reads", ready=("kfunc:vfs_read",), end="sigint", compare="exact",
         expect="file_name_count",
         note="struct navigation through BTF pointers from a typed kfunc argument"),
    Case("kretfunc_vfs_read_args_and_retval",
         f'kretfunc:vfs_read /comm == "{COMM}" && retval > 0/ {{ @[args->count] = count(); }}',
         workload="reads", ready=("kretfunc:vfs_read",), end="sigint", compare="exact",
         expect="count_by_size", note="kretfunc sees the arguments and the return value"),
    Case("kprobe_vfs_read_func",
         f'kprobe:vfs_read /comm == "{COMM}"/ {{ @[func] = count(); }}',
         workload="reads", ready=("kprobe:vfs_read",), end="sigint", compare="exact",
         expect="func_count", note="func resolves the kprobe's address through kallsyms"),
    Case("kfunc_vfs_read_func",
         f'kfunc:vfs_read /comm == "{COMM}"/ {{ @[func] = count(); }}',
         workload="reads", ready=("kfunc:vfs_read",), end="sigint", compare="exact",
         expect="func_count", note="func in kfunc through bpf_get_func_ip"),
    Case("kretprobe_vfs_read_func",
         f'kretprobe:vfs_read /comm == "{COMM}"/ {{ @[func] = count(); }}',
         workload="reads", ready=("kretprobe:vfs_read",), end="sigint", compare="exact",
         expect="caller_count",
         note="bpftrace 0.17's func in a return probe is the return address: the caller"),
)
BY_NAME = {c.name: c for c in CASES}

_BUCKET = re.compile(r"^[\[(]\S*, \S*[\])]\s+(\d+) \|[@ ]*\|$")
_MAP_HEADER = re.compile(r"^(@\w*)(\[.*\])?: ?(.*)$")


def maps(text: str) -> dict[str, dict[str, object]]:
    """Parse bpftrace's text map dump: {map name: {key ("" for none): value}} where a value is
    an int (count/scalar) or a list of bucket counts (hist/lhist)."""
    out: dict[str, dict[str, object]] = {}
    current: list[int] | None = None
    for line in text.splitlines():
        if current is not None:
            m = _BUCKET.match(line)
            if m:
                current.append(int(m.group(1)))
                continue
            current = None
        m = _MAP_HEADER.match(line)
        if not m:
            continue
        name, key, rest = m.group(1), (m.group(2) or "")[1:-1], m.group(3)
        if rest == "":
            current = []
            out.setdefault(name, {})[key] = current
        elif re.fullmatch(r"-?\d+", rest):
            out.setdefault(name, {})[key] = int(rest)
    return out


def lhist_expected(sizes: tuple[int, ...] | None = None) -> list[int]:
    """Bucket counts of lhist(retval, 0, 2000, 200) over `sizes`, as bpftrace prints them
    (trailing zero buckets and the overflow bucket included, leading zero buckets trimmed)."""
    counts = [0] * 11
    for s in READS if sizes is None else sizes:
        counts[min(s // 200, 10)] += 1
    first = next(i for i, c in enumerate(counts) if c)
    last = max(i for i, c in enumerate(counts) if c)
    return counts[first:last + 1]


def _sleeper_pid(found: dict, out: str, run: dict) -> str | None:
    want = f"sleep by {run['workload_pid']}"
    return None if want in out.splitlines() else f"expected the line {want!r} (the workload's pid)"


def _bytes_lhist(found: dict, out: str, run: dict) -> str | None:
    hist = found.get("@bytes", {}).get("")
    if not isinstance(hist, list) or sum(hist) != len(READS):
        return f"expected @bytes to count the workload's {len(READS)} reads, got {hist!r}"
    if hist[:len(lhist_expected())] != lhist_expected():
        return f"expected @bytes buckets {lhist_expected()}, got {hist}"
    return None


def _ns_hist_total(found: dict, out: str, run: dict) -> str | None:
    hist = found.get("@ns", {}).get(COMM)
    if not isinstance(hist, list) or sum(hist) != len(READS):
        return f"expected @ns[{COMM}] to count {len(READS)} reads, got {hist!r}"
    return None


def _comm_count(found: dict, out: str, run: dict) -> str | None:
    got = found.get("@", {}).get(COMM)
    return None if got == len(READS) else f"expected @[{COMM}]: {len(READS)}, got {got!r}"


def _count_by_size(found: dict, out: str, run: dict) -> str | None:
    want = {str(size): READS.count(size) for size in set(READS)}
    got = found.get("@")
    return None if got == want else f"expected @[size] counts {want}, got {got!r}"


def _printf_sizes(found: dict, out: str, run: dict) -> str | None:
    want = [f"read {size}" for size in READS]
    got = [line for line in out.splitlines() if line.startswith("read ")]
    return None if got == want else f"expected the lines {want}, got {got}"


def _file_name_count(found: dict, out: str, run: dict) -> str | None:
    got = found.get("@", {}).get("zero")      # the workload reads /dev/zero
    return None if got == len(READS) else f"expected @[zero]: {len(READS)}, got {got!r}"


def _func_count(found: dict, out: str, run: dict) -> str | None:
    got = found.get("@", {}).get("vfs_read")
    return None if got == len(READS) else f"expected @[vfs_read]: {len(READS)}, got {got!r}"


def _caller_count(found: dict, out: str, run: dict) -> str | None:
    got = found.get("@", {}).get("ksys_read")     # read(2) -> ksys_read -> vfs_read
    return None if got == len(READS) else f"expected @[ksys_read]: {len(READS)}, got {got!r}"


# what each case's workload implies for a correct output
EXPECTATIONS = {"sleeper_pid": _sleeper_pid, "bytes_lhist": _bytes_lhist,
                "ns_hist_total": _ns_hist_total, "comm_count": _comm_count,
                "count_by_size": _count_by_size, "printf_sizes": _printf_sizes,
                "file_name_count": _file_name_count, "func_count": _func_count,
                "caller_count": _caller_count}


def workload_problems(case: Case, run: dict, tool: str = "bpftrace") -> list[str]:
    """What is wrong with one tool's run of a case, judged against the workload's known activity.
    For bpftrace 0.17 this checks the lane itself (boot, attach detection, workload timing);
    for pybpftrace it is the fallback when bpftrace gave no reference.  Empty when it looks right."""
    if run.get("timed_out"):
        return [f"{tool} timed out after {run['seconds']:.0f} s"]
    if run["rc"] != 0:
        return [f"{tool} exited {run['rc']}: {run['stderr'].strip()[-400:]}"]
    problem = EXPECTATIONS[case.expect](maps(run["stdout"]), run["stdout"], run)
    return [f"{tool}: {problem}"] if problem else []


def judge(case: Case, ref: dict, ours: dict) -> str | None:
    """None when pybpftrace's run matches bpftrace's, else a readable explanation with a diff."""
    if ours.get("timed_out"):
        return f"pybpftrace timed out after {ours['seconds']:.0f} s; stderr:\n{ours['stderr'][-2000:]}"
    if ours["rc"] != 0:
        return f"pybpftrace exited {ours['rc']}; stderr:\n{ours['stderr'][-2000:]}"
    a, b = ref["stdout"], ours["stdout"]
    if case.compare == "exact":
        if a == b:
            return None
        return "stdout differs from bpftrace's:\n" + diff(a, b)
    ma, mb = maps(a), maps(b)
    if case.compare == "hist_total":
        problems = []
        # only histogram maps: leftovers such as @start[tid] depend on what was mid-read at Ctrl-C
        if hist_maps(ma) != hist_maps(mb):
            problems.append(f"histogram maps differ: bpftrace {hist_maps(ma)}, "
                            f"pybpftrace {hist_maps(mb)}")
        ha, hb = ma.get("@ns", {}).get(COMM), mb.get("@ns", {}).get(COMM)
        if not isinstance(hb, list) or not hb:
            problems.append(f"pybpftrace printed no histogram for @ns[{COMM}]")
        elif isinstance(ha, list) and sum(ha) != sum(hb):
            problems.append(f"@ns[{COMM}] totals differ: bpftrace {sum(ha)}, pybpftrace {sum(hb)}")
        if any(not isinstance(v, list) for v in mb.get("@ns", {}).values()):
            problems.append("pybpftrace printed a @ns value that is not a histogram")
        return "\n".join(problems + ["outputs:\n" + diff(a, b)]) if problems else None
    if case.compare == "count_line":
        line = f"@[{COMM}]: {len(READS)}"
        if line in b.splitlines():
            return None
        return f"expected the line {line!r} (bpftrace printed it too when it ran):\n" + diff(a, b)
    return f"unknown comparison {case.compare}"


def hist_maps(found: dict[str, dict[str, object]]) -> list[str]:
    return sorted(name for name, keys in found.items() if any(isinstance(v, list) for v in keys.values()))


def diff(a: str, b: str) -> str:
    lines = difflib.unified_diff(a.splitlines(keepends=True), b.splitlines(keepends=True),
                                 "bpftrace", "pybpftrace", n=2)
    text = "".join(repr_line(line) for line in lines)
    return text or "(no line differences: whitespace or line endings differ)\n"


def repr_line(line: str) -> str:
    """A diff line, its content quoted with repr() when trailing whitespace would be invisible."""
    body = line.rstrip("\n")
    mark, content = body[:1], body[1:]
    return (body if content == content.rstrip() else mark + repr(content)) + "\n"
