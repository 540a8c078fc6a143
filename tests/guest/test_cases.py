"""Fast checks of the guest lane's judging (tests/guest/cases.py) on bpftrace 0.17 captures taken
in the guest: a wrong count, a missing histogram or a changed line must be reported."""
from __future__ import annotations

from . import cases as C

LHIST = """Attaching 2 probes...


@bytes: 
[0, 200)               3 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@             |
[200, 400)             0 |                                                    |
[400, 600)             0 |                                                    |
[600, 800)             4 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|
[800, 1000)            2 |@@@@@@@@@@@@@@@@@@@@@@@@@@                          |
[1000, 1200)           0 |                                                    |
[1200, 1400)           0 |                                                    |
[1400, 1600)           1 |@@@@@@@@@@@@@                                       |
[1600, 1800)           0 |                                                    |
[1800, 2000)           0 |                                                    |
[2000, ...)            2 |@@@@@@@@@@@@@@@@@@@@@@@@@@                          |


"""
LATENCY = """Attaching 2 probes...


@ns[python]: 
[4K, 8K)               1 |@@@@@@@@@@@@@@@@@@@@@@@@@@                          |
[8K, 16K)              0 |                                                    |
[16K, 32K)             2 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|

@ns[pbtload]: 
[2K, 4K)               3 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@                     |
[4K, 8K)               5 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|
[8K, 16K)              2 |@@@@@@@@@@@@@@@@@@@@                                |
[16K, 32K)             1 |@@@@@@@@@@                                          |
[32K, 64K)             0 |                                                    |
[64K, 128K)            1 |@@@@@@@@@@                                          |

@start[139]: 119135692330

"""


def run(stdout: str, rc: int = 0, pid: int = 125) -> dict:
    return {"stdout": stdout, "stderr": "", "rc": rc, "timed_out": False, "seconds": 1.0,
            "workload_pid": pid}


def test_maps_parses_histograms_and_scalars():
    found = C.maps(LATENCY)
    assert found["@ns"]["pbtload"] == [3, 5, 2, 1, 0, 1]
    assert found["@ns"]["python"] == [1, 0, 2]
    assert found["@start"]["139"] == 119135692330


# the reads the LHIST and LATENCY captures were taken with
CAPTURE_READS = (100, 100, 100, 700, 700, 700, 700, 900, 900, 1500, 3000, 3000)


def test_lhist_capture_matches_the_workload(monkeypatch):
    monkeypatch.setattr(C, "READS", CAPTURE_READS)
    case = C.BY_NAME["kretprobe_vfs_read_lhist"]
    assert C.lhist_expected() == C.maps(LHIST)["@bytes"][""]
    assert C.workload_problems(case, run(LHIST)) == []
    fewer = LHIST.replace("[600, 800)             4", "[600, 800)             3")
    assert C.workload_problems(case, run(fewer))


def test_exact_comparison_reports_a_diff():
    case = C.BY_NAME["kretprobe_vfs_read_lhist"]
    assert C.judge(case, run(LHIST), run(LHIST)) is None
    verdict = C.judge(case, run(LHIST), run(LHIST.replace("@bytes: \n", "@bytes:\n")))
    assert verdict and "\n-'@bytes: '\n" in verdict and "\n+@bytes:\n" in verdict


def test_histogram_shape_comparison(monkeypatch):
    monkeypatch.setattr(C, "READS", CAPTURE_READS)
    case = C.BY_NAME["kprobe_kretprobe_vfs_read_latency"]
    assert C.workload_problems(case, run(LATENCY)) == []
    other_timings = LATENCY.replace("[4K, 8K)               5", "[4K, 8K)               4") \
                           .replace("[16K, 32K)             1", "[16K, 32K)             2")
    assert C.judge(case, run(LATENCY), run(other_timings)) is None
    lost_one = LATENCY.replace("[4K, 8K)               5", "[4K, 8K)               4")
    assert "totals differ" in C.judge(case, run(LATENCY), run(lost_one))
    no_start = LATENCY.replace("@start[139]: 119135692330\n", "")
    assert C.judge(case, run(LATENCY), run(no_start)) is None  # leftovers depend on timing
    renamed = LATENCY.replace("@ns[", "@lat[")
    verdict = C.judge(case, run(LATENCY), run(renamed))
    assert "histogram maps differ" in verdict and "no histogram for @ns[pbtload]" in verdict


def test_failed_run_is_reported_with_its_stderr():
    case = C.BY_NAME["kfunc_vfs_read_count"]
    line = f"@[pbtload]: {len(C.READS)}\n"
    failed = dict(run(""), rc=1, stderr="stdin:1:1-15: ERROR: Invalid probe type: kfunc\n")
    assert "Invalid probe type" in C.judge(case, run(line), failed)
    assert C.judge(case, run(line), run("@[python]: 3\n" + line)) is None
    assert C.judge(case, run(line), run(f"@[pbtload]: {len(C.READS) - 1}\n"))


def test_workload_expectations_for_counts_and_printf():
    by_size = C.BY_NAME["kprobe_vfs_read_arg2_count"]
    good = "Attaching 1 probe...\n\n\n@[1500]: 1\n@[900]: 2\n@[100]: 3\n@[700]: 4\n@[3000]: 5\n\n"
    assert C.workload_problems(by_size, run(good)) == []
    assert C.workload_problems(by_size, run(good.replace("@[700]: 4", "@[700]: 5")))
    printf = C.BY_NAME["kretprobe_vfs_read_printf"]
    lines = "".join(f"read {n}\n" for n in C.READS)
    assert C.workload_problems(printf, run("Attaching 1 probe...\n" + lines)) == []
    assert C.workload_problems(printf, run("Attaching 1 probe...\n" + lines.replace("read 900\n", "", 1)))
    sleeper = C.BY_NAME["kprobe_do_nanosleep"]
    assert C.workload_problems(sleeper, run("Attaching 1 probe...\nsleep by 125\n", pid=125)) == []
    assert C.workload_problems(sleeper, run("Attaching 1 probe...\nsleep by 1250\n", pid=125))
