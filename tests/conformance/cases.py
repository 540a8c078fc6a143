"""The conformance cases: bpftrace 0.17's core language, builtins, functions, probe types,
output formats (text and -f json) and error messages.

Workload cases run tests/workloads/cfwork.c, whose final getppid() is the marker:
`MARKER_EXIT` ends the program there, so both tracers see exactly the same events.  Each run
gives the workload a unique comm ({{COMM}}) and execs cfexec through a uniquely named link
({{EXEC}}), so concurrent runs never see each other's events; the runner maps both back to
"cfwork" / "cfexec" in the output.
BEGIN-only cases end with their own exit().  Normalisations are named per case and
documented in normalise.py.
"""
from __future__ import annotations

from .case import Case

CFWORK = "{{CFWORK}}"
CFEXEC = "{{CFEXEC}}"
MARKER = 'tracepoint:syscalls:sys_enter_getppid /comm == "{{COMM}}"/'
MARKER_EXIT = MARKER + " { exit(); }"
ERR = ("stdout", "stderr", "rc")          # what error cases compare


def wl(*ops: str) -> tuple[str, ...]:
    """A cfwork workload running `ops` (see cfwork.c) under the run's own comm, ending with
    the marker."""
    return (CFWORK, "N:{{COMM}}", *ops)


CASES: list[Case] = [
    # ---------------------------------------------------------------- printf
    Case("printf_length_modifiers",
         'BEGIN { printf("%d|%ld|%lld|%x|%lx|%hhd|%hd|%c|%5.2s|\\n", 5000000000, 5000000000,'
         ' 5000000000, 5000000000, 5000000000, 300, 70000, 321, "hello"); exit(); }',
         doc="length modifiers truncate to 32/16/8 bits like C"),
    Case("printf_width_flags_precision",
         'BEGIN { printf("[%5d][%-5d][%05d][%X][%08.3d][%.3d][%-08d][%o][%lu][%llx][%hhu][%zd]\\n",'
         ' 42, 42, 42, 42, 42, 42, 42, 42, 42, 42, 298, 42);'
         ' printf("[%10s][%-10s][%.3s][%c][%-4c][%u][%p][%%]\\n", "abc", "abc", "abcdef", 65, 66, -1, 4096);'
         ' exit(); }', deviations=("printf_percent",),
         doc="0.17 prints the final [%%] as is; we print [%] (docs/deviations.md)"),
    Case("printf_escapes",
         'BEGIN { printf("tab\\there \\\\ \\"q\\" \\101\\x42 end\\n"); printf("no newline"); exit(); }'),
    Case("printf_negative_and_unsigned",
         'BEGIN { $n = -5; printf("%d %u %x %ld %lu %lx\\n", $n, $n, $n, $n, $n, $n);'
         ' printf("%d %d\\n", (uint32)-1, (int32)-1); exit(); }'),

    # ---------------------------------------------------------------- print, exit
    Case("print_values",
         'BEGIN { print(1); print(-5); print("str"); print((1, "two", -3)); print((1, (2, "x")));'
         ' $t = ("a", 7); print($t); exit(); }'),
    Case("print_map_top_div",
         'BEGIN { @k[1] = 10; @k[2] = 5; @k[3] = 20; @k[4] = 7; print(@k); print(@k, 2);'
         ' print(@k, 0, 2); @c = count(); print(@c); exit(); }'),
    Case("print_aggregation_maps_top_div",
         'BEGIN { @h[1] = hist(5); @h[1] = hist(5); @h[1] = hist(6); @h[2] = hist(100); print(@h, 1);'
         ' print(@h, 0, 2); @l = lhist(5, 0, 10, 5); @l = lhist(6, 0, 10, 5); print(@l, 0, 2);'
         ' @a["x"] = avg(10); print(@a, 0, 3); @s["y"] = stats(9); print(@s, 0, 2); @c["k"] = count();'
         ' @c["j"] = count(); @c["j"] = count(); print(@c, 1); exit(); }',
         compare=("stdout", "stderr"),
         doc="top/div on hist, lhist, avg, count; the warning for stats"),
    Case("exit_stops_probe_then_end_runs",
         'BEGIN { printf("begin\\n"); @a = 1; exit(); printf("after exit\\n"); }'
         ' END { printf("end %d\\n", 2); @b = 2; }'),

    # ---------------------------------------------------------------- variables and operators
    Case("scratch_variables_compound",
         'BEGIN { $a = 5; $a += 3; $a -= 1; $a *= 2; $a /= 3; $a %= 3; $a <<= 4; $a >>= 1;'
         ' $a |= 1; $a &= 0xff; $a ^= 3; $b = $a++; $c = ++$a; $d = $a--; $e = --$a;'
         ' printf("%d %d %d %d %d\\n", $a, $b, $c, $d, $e); $s = "str"; $s = "other";'
         ' printf("%s\\n", $s); exit(); }'),
    Case("operators_arithmetic_signed_unsigned",
         'BEGIN { printf("%d %d %d %d %d\\n", 7 + 3, 7 - 10, 6 * 7, 7 / 2, 7 % 3);'
         ' printf("%d %d %d %d\\n", -7 / 2, -7 % 3, -8 >> 1, 1 << 10);'
         ' printf("%lu %ld %lu\\n", 1 << 63, (1 << 63) >> 62, ~0);'
         ' printf("%d %d %d %d\\n", !0, !5, -(-3), ~5);'
         ' $m = -1; $u = (uint64)-1; printf("%d %d %d\\n", $m > 1, $u > 1, $m < 0); exit(); }'),
    Case("operators_logic_bitwise_precedence",
         'BEGIN { printf("%d %d %d %d %d\\n", 1 && 0, 1 || 0, 0 || 0, 2 && 3, !(1 && 1));'
         ' printf("%d %d %d %d\\n", 12 & 10, 12 | 10, 12 ^ 10, 1 | 2 ^ 3 & 4);'
         ' printf("%d %d %d %d %d %d\\n", 1 == 1, 1 != 1, 1 < 2, 2 <= 1, 3 > 2, 3 >= 4);'
         ' printf("%d %d %d\\n", 1 + 2 * 3, (1 + 2) * 3, 10 - 4 - 3); exit(); }'),
    Case("ternary_and_if_else",
         'BEGIN { $x = 5; printf("%s %d\\n", $x > 3 ? "big" : "small", $x < 3 ? 1 : 2);'
         ' $y = $x == 5 ? ($x > 4 ? 10 : 20) : 30; printf("%d\\n", $y);'
         ' $i = 0; while ($i < 4) { if ($i == 0) { printf("zero "); } else if ($i == 1) { printf("one "); }'
         ' else if ($i == 2) { printf("two "); } else { printf("other "); } $i++; }'
         ' if ($x) { printf("\\ntrue\\n"); } if (!$x) { printf("false\\n"); } exit(); }'),
    Case("unroll_and_while",
         'BEGIN { $i = 0; unroll(5) { $i++; printf("%d ", $i); } printf("\\n");'
         ' $j = 0; while ($j < 10) { $j++; if ($j == 3) { continue; } if ($j == 7) { break; }'
         ' printf("%d ", $j); } printf("| %d\\n", $j); exit(); }'),
    Case("casts",
         'BEGIN { printf("%d %d %d %d\\n", (uint8)300, (int8)200, (uint16)-1, (int16)40000);'
         ' printf("%ld %ld %ld\\n", (uint32)-1, (int32)3000000000, (int64)-1);'
         ' $b = (int8)-3; @b = $b; @u8 = (uint8)255; exit(); }'),

    Case("string_compare_and_map_increment",
         'BEGIN { $s = "abc"; printf("%d %d %d %d\\n", $s == "abc", $s != "abc", $s == "abd", "x" != "y");'
         ' @n++; @n++; @n--; @m[1]++; @m[1] += 5; @m[2] -= 3; @str[$s] = $s; exit(); }'),

    Case("sign_compare_warnings",
         'BEGIN { $x = (int32)-1; if ($x == pid) { printf("eq\\n"); } $u = (uint32)5;'
         ' printf("%d %d\\n", $u > -1, pid == $1); exit(); }',
         compare=("stdout", "stderr"),
         doc="mixed-sign comparisons: their results and which ones warn"),
    Case("ksym_kaddr_curtask_btf",
         'BEGIN { printf("%s|%s\\n", ksym(kaddr("do_sys_openat2")), ksym(0));'
         ' $t = (struct task_struct *)curtask; printf("%d %d %d\\n", $t->pid == pid, $t->tgid == pid,'
         ' curtask > 0); exit(); }',
         compare=("stdout", "stderr")),
    Case("define_macros",
         '#define MAX 3\n#define NAME "x"\nBEGIN { printf("%d %s\\n", MAX, NAME); exit(); }\n',
         program_file=True),
    Case("positional_in_attach_point",
         'interval:ms:$1 { printf("%d %s\\n", $1, str($2)); exit(); }', args=("30", "p2")),
    Case("env_strlen",
         'BEGIN { printf("[%s]\\n", str($1)); exit(); }', args=("abcdefghijkl",),
         env={"BPFTRACE_STRLEN": "8"}),

    # ---------------------------------------------------------------- maps
    Case("maps_zero_one_many_keys",
         'BEGIN { @scalar = 1; @one[1] = 2; @one[2] = 3; @str["x"] = 4; @str["yy"] = 5;'
         ' @multi[1, "a"] = 6; @multi[2, "b"] = 7; @neg[-3] = 8; @neg[5] = 9; @ = 10; exit(); }'),
    Case("maps_string_tuple_values",
         'BEGIN { @s = "hello"; @t = (1, "two", 3); @ks["k"] = "v"; @ks["a"] = "w";'
         ' @kt[1] = (2, "x"); exit(); }'),
    Case("aggregations_in_begin",
         'BEGIN { @c = count(); @c = count(); @s = sum(5); @s = sum(-2); @a = avg(10); @a = avg(21);'
         ' @mn = min(5); @mn = min(-3); @mx = max(5); @mx = max(9); @st = stats(10); @st = stats(31);'
         ' @na = avg(-10); @na = avg(-21); exit(); }'),
    Case("aggregations_keyed",
         'BEGIN { @c["a"] = count(); @c["b"] = count(); @c["b"] = count(); @s[1] = sum(10); @s[2] = sum(3);'
         ' @a[1] = avg(4); @a[2] = avg(8); @st["x"] = stats(3); @st["y"] = stats(100); exit(); }'),
    Case("hist_values",
         'BEGIN { @h = hist(0); @h = hist(1); @h = hist(2); @h = hist(3); @h = hist(5); @h = hist(1000);'
         ' @h = hist(1100); @h = hist(-5); @h = hist(2000000); @big = hist(1 << 40); @big = hist(5000000000);'
         ' @one = hist(7); exit(); }'),
    Case("hist_keyed",
         'BEGIN { @h[1] = hist(5); @h[2] = hist(100); @h[2] = hist(200); @h[3] = hist(1); @h[3] = hist(2);'
         ' @h[3] = hist(3); exit(); }'),
    Case("lhist_values",
         'BEGIN { @l = lhist(5, 0, 100, 10); @l = lhist(15, 0, 100, 10); @l = lhist(-1, 0, 100, 10);'
         ' @l = lhist(150, 0, 100, 10); @l = lhist(55, 0, 100, 10); @l = lhist(100, 0, 100, 10);'
         ' @k = lhist(0, 0, 4096, 1024); @k = lhist(1500, 0, 4096, 1024); @k = lhist(5000, 0, 4096, 1024);'
         ' @n = lhist(-40, 0, 50, 25); @n = lhist(0, 0, 50, 25); @n = lhist(49, 0, 50, 25);'
         ' @n = lhist(0, 0, 50, 25); @m = lhist(1048576, 0, 2097152, 1048576); exit(); }'),
    Case("delete_clear_zero",
         'BEGIN { @a[1] = 1; @a[2] = 2; @a[3] = 3; delete(@a[2]); @b[1] = count(); @b[1] = count();'
         ' zero(@b); @c[1] = 5; clear(@c); @d = count(); clear(@d); @e = 7; delete(@e); exit(); }'
         ' END { @f[1] = 1; print(@f); clear(@f); print(@f); }'),

    # ---------------------------------------------------------------- functions
    Case("positional_parameters",
         'BEGIN { printf("%s %d %d %d [%s]\\n", str($1), $2 + 1, $#, $3, str($1, 3)); exit(); }',
         args=("hello", "41")),
    Case("positional_parameters_none",
         'BEGIN { printf("%d %d\\n", $#, $1); exit(); }'),
    Case("strncmp_sizeof",
         'struct Foo { int a; char b[10]; } '
         'BEGIN { printf("%d %d %d\\n", strncmp("hello", "help", 3), strncmp("hello", "help", 4),'
         ' strncmp("abc", "abc", 10)); $x = (uint16)5;'
         ' printf("%d %d %d %d %d %d\\n", sizeof(uint8), sizeof(int32), sizeof(uint64),'
         ' sizeof(struct Foo), sizeof($x), sizeof(comm)); exit(); }'),
    Case("ntop_pton",
         'BEGIN { printf("%s %s %s %s\\n", ntop(0x0100007f), ntop(2, 0x0100007f), ntop(pton("::1")),'
         ' ntop(pton("10.1.2.3"))); printf("%s\\n", ntop(pton("fe80::1:2"))); exit(); }'),
    Case("cgroupid",
         'BEGIN { printf("%d %d\\n", cgroupid("/sys/fs/cgroup/unified"), cgroup > 0); exit(); }'),
    Case("time_and_strftime",
         'BEGIN { time("%H:%M:%S\\n"); time(); printf("[%s] [%s]\\n", strftime("%H:%M:%S", nsecs),'
         ' strftime("%Y-%m-%d", nsecs)); exit(); }',
         normalise=("clock", "date"),
         doc="the time text is masked; the rest (separators, newlines) is compared"),
    Case("system_unsafe",
         'BEGIN { system("echo hello %d %s", 42, "x"); printf("after\\n"); exit(); }',
         flags=("--unsafe",)),
    Case("cat_file",
         'BEGIN { cat("/proc/sys/kernel/ostype"); cat("%s/%s", "/proc/sys/kernel", "ostype"); exit(); }',
         flags=("--unsafe",)),
    Case("builtins_in_begin",
         'BEGIN { printf("%s %d %d %d %d %d %d\\n", username, uid, gid, nsecs > 0, elapsed < 60000000000,'
         ' cpu < 4096, rand >= 0); printf("%s\\n", probe); exit(); }'),

    # ---------------------------------------------------------------- tracepoints with a workload
    Case("tp_read_hist_and_aggregations",
         'tracepoint:syscalls:sys_exit_read /comm == "{{COMM}}"/ { @bytes = hist(args->ret);'
         ' @c[comm] = count(); @s[comm] = sum(args->ret); @a[comm] = avg(args->ret);'
         ' @mn[comm] = min(args->ret); @mx[comm] = max(args->ret); @st = stats(args->ret); } ' + MARKER_EXIT,
         workload=wl("r:10", "r:100", "e:5", "z:3", "r:1048576", "r:4096", "r:4000")),
    Case("tp_read_lhist",
         'tracepoint:syscalls:sys_exit_read /comm == "{{COMM}}"/ { @l = lhist(args->ret, 0, 5000, 1000); } '
         'tracepoint:syscalls:sys_enter_read /comm == "{{COMM}}"/ { @req[args->count] = count(); } ' + MARKER_EXIT,
         workload=wl("r:1024", "r:1024", "r:2048", "r:2048", "r:2048", "e:7", "e:7", "e:7", "e:7",
                     "r:9000", "z:1", "z:1", "z:1", "z:1", "z:1"),
         doc="every @req count differs: 0.17's order for equal counts is unspecified"),
    Case("tp_openat_printf_str",
         'tracepoint:syscalls:sys_enter_openat /comm == "{{COMM}}"/ { printf("%s %s [%s] %d\\n", comm,'
         ' str(args->filename), str(args->filename, 6), args->flags); } ' + MARKER_EXIT,
         workload=wl("o:/etc/hostname", "o:/nonexistent/file", "o:/proc/self/status")),
    Case("tp_enter_exit_start_tid",
         'tracepoint:syscalls:sys_enter_read /comm == "{{COMM}}"/ { @start[tid] = nsecs; }'
         ' tracepoint:syscalls:sys_exit_read /@start[tid]/ { @n[comm] = count();'
         ' @ok[comm] = sum(nsecs >= @start[tid]); delete(@start[tid]); } ' + MARKER_EXIT,
         workload=wl("r:1", "r:2", "r:3", "z:4")),
    Case("tp_builtins_comm_pid_uid",
         MARKER + ' { printf("%s %d %d %d %d %s %d %s\\n", comm, pid, tid, uid, gid, username,'
         ' cpu < 4096, probe); @[pid, comm] = count(); @p[tid] = 1; exit(); }',
         workload=wl(), normalise=("pid",),
         doc="the workload's pid and tid are masked as <PID>"),
    Case("tp_args_fields",
         'tracepoint:syscalls:sys_enter_read /comm == "{{COMM}}"/ { printf("fd>2:%d count:%d\\n",'
         ' args->fd > 2, args->count); } tracepoint:syscalls:sys_exit_read /comm == "{{COMM}}"/'
         ' { printf("ret:%d\\n", args->ret); } ' + MARKER_EXIT,
         workload=wl("r:17", "e:3")),
    Case("tp_wildcard_probe_builtin",
         'tracepoint:syscalls:sys_enter_getp* /comm == "{{COMM}}"/ { @[probe] = count(); }'
         ' tracepoint:syscalls:sys_exit_getppid /comm == "{{COMM}}"/ { exit(); }',
         workload=wl("P:3", "G:2")),
    Case("tp_syscall_exit_wildcard_probe_builtin",
         'tracepoint:syscalls:sys_exit_getp* /comm == "{{COMM}}"/ { @[probe] = count(); @n++; }'
         ' tracepoint:syscalls:sys_enter_getpg* /comm == "{{COMM}}"/ { @e[probe] = count(); } '
         + MARKER_EXIT,
         workload=wl("P:3", "G:2"),
         doc="syscall wildcards run as one raw_syscalls program filtered by syscall id"),
    Case("tp_category_wildcard",
         'tracepoint:sched:sched_process_ex* /comm == "{{EXEC}}"/ { printf("%s %s\\n", probe, comm); } '
         + MARKER_EXIT,
         workload=wl(f"x:{CFEXEC}")),
    Case("tp_data_loc_string",
         'tracepoint:sched:sched_process_exec /comm == "{{EXEC}}"/ { printf("%s %d\\n", str(args->filename),'
         ' args->pid == args->old_pid); @[str(args->filename)] = count(); } ' + MARKER_EXIT,
         workload=wl(f"x:{CFEXEC}", f"x:{CFEXEC}"),
         doc="__data_loc char[] fields read as their string"),
    Case("tp_join_execve_argv",
         'tracepoint:syscalls:sys_enter_execve /comm == "{{COMM}}"/ { join(args->argv); join(args->argv, ",");'
         ' printf("%s\\n", str(args->filename)); } ' + MARKER_EXIT,
         workload=wl(f"x:{CFEXEC}:alpha,beta,gamma")),
    Case("tp_map_keys_max",
         'tracepoint:syscalls:sys_enter_getpgid /comm == "{{COMM}}"/ { @m[args->pid] = sum(args->pid); } '
         + MARKER_EXIT, workload=wl("K:10"), env={"BPFTRACE_MAP_KEYS_MAX": "5"},
         doc="updates past BPFTRACE_MAP_KEYS_MAX are dropped silently in 0.17"),
    Case("tp_printf_comm_widths",
         MARKER + ' { printf("%16s|%-16s|%6d|%-3d|%.2s|\\n", comm, comm, uid, gid, comm); exit(); }',
         workload=wl()),
    Case("tp_kstack",
         MARKER + ' { printf("%s\\n", kstack(3)); @[kstack(2)] = count(); exit(); }',
         workload=wl()),
    Case("tp_strncmp_comm_predicate",
         'tracepoint:syscalls:sys_enter_getpid /strncmp(comm, "{{COMM}}-x", 6) == 0/ { @[comm] = count(); } '
         + MARKER_EXIT, workload=wl("P:4")),
    Case("end_by_sigint",
         'tracepoint:syscalls:sys_enter_getpid /comm == "{{COMM}}"/ { @calls = count(); @k[comm] = sum(2); }',
         workload=wl("P:6", "q"), end="sigint",
         doc="no END probe: bpftrace 0.17 sometimes hangs in epoll_wait when SIGINT meets an END probe"),

    Case("tp_multiple_attach_points_print_clear",
         'tracepoint:syscalls:sys_enter_getpid, tracepoint:syscalls:sys_enter_getpgrp /comm == "{{COMM}}"/'
         ' { @[probe] = count(); @total++; } ' + MARKER + ' { print(@); clear(@); print(@total); exit(); }',
         workload=wl("P:2", "G:5")),

    # ---------------------------------------------------------------- other probe types
    Case("uprobe_args_ustack",
         f'uprobe:{CFWORK}:cf_work {{ printf("%d %s [%s] %s %s", arg0, str(arg1), str(arg1, 3), func,'
         ' ustack(3)); }'
         f' uretprobe:{CFWORK}:cf_work {{ @ret[retval] = sum(retval); }} ' + MARKER_EXIT,
         workload=wl("u:3")),
    Case("uprobe_usym_reg",
         f'uprobe:{CFWORK}:cf_work /arg0 == 2/ {{ printf("%s|%s|%s\\n", usym(reg("ip")), func, probe); }} '
         + MARKER_EXIT, workload=wl("u:3")),
    Case("uprobe_buf_formats",
         f'uprobe:{CFWORK}:cf_work /arg0 == 1/ {{ printf("%r|%rx|%rh\\n", buf(arg1, 5), buf(arg1, 2),'
         ' buf(arg1, 3)); } ' + MARKER_EXIT,
         workload=wl("u:2")),
    Case("interval_ticks",
         'interval:ms:50 /@i < 3/ { @i++; printf("tick %d\\n", @i); if (@i == 3) { exit(); } }'),
    Case("profile_first_sample",
         'profile:hz:99 /comm == "{{COMM}}"/ { printf("%s\\n", comm); @[comm] = 1; exit(); }',
         workload=wl("b:400", "q")),
    Case("software_page_faults",
         'software:page-faults:1 /comm == "{{COMM}}"/ { @faults = count(); @[comm] = count(); } '
         + MARKER_EXIT,
         workload=wl("f:64"), subs=((r"(?m)^(@\S*: )[1-9][0-9]*$", r"\1<N>"),),
         doc="fault counts vary by a few; nonzero counts are masked as <N>"),

    # ---------------------------------------------------------------- CLI flags
    Case("cli_quiet_and_output_file",
         'BEGIN { printf("to file\\n"); @x = 3; exit(); }', flags=("-q",), output_file=True,
         compare=("stdout", "file")),
    Case("cli_c_command_cpid",
         'tracepoint:syscalls:sys_enter_getpid /pid == cpid/ { @calls = count(); }'
         ' END { printf("cpid>0: %d\\n", cpid > 0); }',
         flags=("-c", f"{CFWORK} P:5 q")),
    Case("cli_p_pid_exits_with_process",
         'tracepoint:syscalls:sys_enter_getpid /pid == $1/ { @calls = count(); @k[pid] = sum(1); }'
         ' END { printf("end\\n"); }',
         flags=("-p", "{{PID}}"), args=("{{PID}}",), workload=(CFWORK, "W", "P:4", "q"),
         workload_first=True, normalise=("pid",),
         doc="-p PID: the tracer exits when the process does; its pid is masked"),
    Case("cli_p_no_such_process", 'BEGIN { exit(); }', flags=("-p", "4194303"), compare=ERR),
    Case("cli_p_not_a_number", 'BEGIN { exit(); }', flags=("-p", "12x"), compare=ERR),
    Case("cli_p_out_of_range", 'BEGIN { exit(); }', flags=("-p", "0"), compare=ERR),
    Case("cli_p_beyond_int64", 'BEGIN { exit(); }', flags=("-p", "99999999999999999999"),
         compare=ERR),
    Case("cli_list_no_such_process", listing="tracepoint:syscalls:sys_enter_openat",
         flags=("-p", "4194303", "-l"), compare=ERR),
    Case("cli_list_clustered_quiet", listing="tracepoint:syscalls:sys_enter_open*",
         flags=("-ql",), doc="getopt clusters: -ql is -q -l"),
    Case("cli_clustered_quiet_program", 'BEGIN { printf("x\\n"); exit(); }', flags=("-qf", "json"),
         compare=("stdout", "rc"), doc="-qf json: a flag then an option taking a value"),
    Case("cli_program_file",
         '#!/usr/bin/env bpftrace\n// a comment\nBEGIN\n{\n  /* block */\n  printf("from file\\n");\n'
         '  exit();\n}\n', program_file=True),
    Case("cli_list_tracepoints",
         listing="tracepoint:syscalls:sys_enter_open*", flags=("-l",)),
    Case("cli_list_verbose",
         listing="tracepoint:syscalls:sys_enter_openat", flags=("-lv",)),

    # ---------------------------------------------------------------- -f json
    Case("json_maps_every_type",
         'BEGIN { @c = count(); @s = sum(7); @a = avg(15); @mn = min(3); @mx = max(9); @st = stats(40);'
         ' @h = hist(5); @h = hist(100); @hk[1] = hist(2); @hk[2] = hist(64); @l = lhist(5, 0, 100, 10);'
         ' @l = lhist(150, 0, 100, 10); @l = lhist(-1, 0, 100, 10); @k[2] = 5; @k[1] = 10;'
         ' @mk[1, "a"] = 1; @mk[2, "b"] = 2; @sk["a"] = stats(3); @t = (1, "two", 3); @str = "q\\"uote";'
         ' exit(); }', flags=("-f", "json")),
    Case("json_events",
         'BEGIN { printf("hello %d\\n", 5); print(123); print("abc"); print((1, "x")); @m[1] = 2;'
         ' print(@m); time("%H:%M:%S\\n"); exit(); }', flags=("-f", "json"), normalise=("clock",)),
    Case("json_printf_escaping",
         'BEGIN { printf("tab\\t\\"q\\" back\\\\ nl\\n"); printf("%s\\n", "x\\x01y"); exit(); }',
         flags=("-f", "json")),
    Case("json_join_and_system",
         'tracepoint:syscalls:sys_enter_execve /comm == "{{COMM}}"/ { join(args->argv); }'
         ' BEGIN { system("echo sys"); cat("/proc/sys/kernel/ostype"); } ' + MARKER_EXIT,
         flags=("-f", "json", "--unsafe"), workload=wl(f"x:{CFEXEC}:one,two")),

    # ---------------------------------------------------------------- errors
    Case("error_syntax", 'BEGIN { @x = 1 exit(); }', compare=ERR),
    Case("error_unknown_function", 'BEGIN { foo(1); }', compare=ERR),
    Case("error_map_type_mismatch", 'BEGIN { @x = 1; @x = "str"; }', compare=ERR),
    Case("error_undefined_map", 'BEGIN { print(@nosuch); }', compare=ERR),
    Case("error_undefined_variable", 'BEGIN { $a = $b; }', compare=ERR),
    Case("error_tracepoint_not_found", 'tracepoint:nosuch:event { exit(); }', compare=ERR),
    Case("error_printf_arguments",
         'BEGIN { printf("%d %d %d\\n", 1, 2); } END { printf("%d\\n", "str"); }', compare=ERR),
    Case("error_printf_unsupported_flag", 'BEGIN { printf("[%+d]\\n", 42); exit(); }', compare=ERR),
    Case("error_system_safe_mode", 'BEGIN { system("ls"); }', compare=ERR),
    Case("error_map_key_mismatch", 'BEGIN { @a[1] = 1; @a["x"] = 2; }', compare=ERR),
    Case("error_missing_field",
         'tracepoint:syscalls:sys_enter_openat { printf("%d\\n", args->nosuch); }', compare=ERR),
    Case("error_uprobe_target_missing", 'uprobe:/bin/nosuchbin:main { exit(); }', compare=ERR),
    Case("error_unroll_limit", 'BEGIN { unroll(101) { printf("x"); } }', compare=ERR),
    Case("error_ternary_types", 'BEGIN { $x = 1 ? "a" : 2; }', compare=ERR),
    Case("error_aggregation_read", 'BEGIN { @c = count(); if (@c > 1) { exit(); } }', compare=ERR),
    Case("error_unknown_identifier", 'BEGIN { fake }', compare=ERR),
    Case("error_in_program_file",
         'BEGIN {\n  printf("ok\\n");\n  nosuch(1);\n}\n', program_file=True, compare=ERR),
    Case("error_lhist_negative_min", 'BEGIN { @n = lhist(-40, -50, 50, 25); }', compare=ERR),
    Case("error_multiple_errors",
         'BEGIN { $a = $undefined1; @b = $undefined2; }', compare=ERR),
]

# A broad, quick subset: the only cases pytest runs without the `slow` mark (each run of
# pybpftrace costs a Python start; the full catalogue takes a few minutes).
CORE: frozenset[str] = frozenset({
    "printf_length_modifiers", "print_map_top_div", "operators_arithmetic_signed_unsigned",
    "maps_zero_one_many_keys", "aggregations_in_begin", "lhist_values",
    "tp_read_hist_and_aggregations", "tp_builtins_comm_pid_uid", "tp_wildcard_probe_builtin",
    "uprobe_args_ustack", "interval_ticks", "json_maps_every_type", "error_syntax",
    "error_map_type_mismatch", "error_undefined_variable",
    "printf_width_flags_precision", "print_values", "casts", "string_compare_and_map_increment",
    "delete_clear_zero", "hist_values", "positional_parameters", "json_events",
    "tp_openat_printf_str", "tp_join_execve_argv", "tp_data_loc_string", "end_by_sigint",
    "profile_first_sample", "cli_c_command_cpid", "cli_quiet_and_output_file",
    "error_printf_arguments", "error_missing_field",
})

BY_NAME: dict[str, Case] = {case.name: case for case in CASES}
assert len(BY_NAME) == len(CASES), "duplicate case names"
assert CORE <= BY_NAME.keys(), CORE - BY_NAME.keys()
