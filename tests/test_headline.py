"""experiments/headline.py (the demo's last step) on hand-written results: its geometric
means, worst traces, counts = sim and totals equal figures computed by hand; the main table
is over the kernel's traces alone (a trace only a simulator run has stays out of it and goes
to the whole-corpus table); a missing or malformed results.csv, or a run without one of the
kernel's traces, is a one-line error naming the file or the trace and the run."""

from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import load_experiment

ROOT = Path(__file__).resolve().parent.parent
headline = load_experiment("headline")

# (policy, workload): (writes, faults, precopied, wasted, cow_ns, objective)
KERNEL = {
    ("baseline", "a"): (100, 100, 0, 0, 1000.0, 1000.0),
    ("baseline", "b"): (50, 40, 0, 0, 400.0, 400.0),
    ("shield64", "a"): (100, 80, 30, 10, 800.0, 900.0),
    ("shield64", "b"): (50, 40, 0, 0, 440.0, 440.0),
    ("precopy", "a"): (100, 50, 60, 10, 1300.0, 1500.0),
    ("precopy", "b"): (50, 30, 20, 10, 600.0, 800.0),
}
# The simulator under the same cost model: precopy on b copies one page more than the kernel.
SIM = {**{k: (*v[:4], v[4] * 1.01, v[5] * 1.01) for k, v in KERNEL.items()},
       ("precopy", "b"): (50, 30, 21, 11, 606.0, 808.0),
       ("oracle", "a"): (100, 70, 30, 0, 707.0, 707.0),
       ("oracle", "b"): (50, 40, 0, 0, 404.0, 404.0)}

# seed_table1 over the kernel's a and b and a third trace c. Objective / baseline:
# shield64 0.6, 1.1, 0.8; precopy 1.5, 2.0, 4.0; oracle 0.7, 1.0, 0.5.
SEED = {(p, w): (n, n, 0, 0, float(o), float(o)) for (p, w, n, o) in (
    ("baseline", "a", 100, 1000), ("baseline", "b", 50, 400), ("baseline", "c", 10, 10),
    ("shield64", "a", 100, 600), ("shield64", "b", 50, 440), ("shield64", "c", 10, 8),
    ("precopy", "a", 100, 1500), ("precopy", "b", 50, 800), ("precopy", "c", 10, 40),
    ("oracle", "a", 100, 700), ("oracle", "b", 50, 400), ("oracle", "c", 10, 5))}


def write_run(d: Path, target: str, costmodel: str,
              rows: dict[tuple[str, str], tuple[int, int, int, int, float, float]]) -> Path:
    """``d/results.csv`` with eval.py's columns (those the headline reads, and one it does
    not) and ``d/results.json``'s meta."""
    d.mkdir(parents=True)
    cols = ["policy", "workload", "target", "writes", "faults", "precopied", "wasted",
            "cow_ns", "objective", "fault_avg_ns"]
    with (d / "results.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(cols)
        for (p, wl), v in rows.items():
            w.writerow([p, wl, target, *v, 9e9])
    (d / "results.json").write_text(json.dumps({"meta": {"costmodel": costmodel}, "rows": []}))
    return d


def tables(lines: list[str]) -> list[dict[str, dict[str, str]]]:
    """Each printed table's cells by policy and column, in order."""
    out: list[list[list[str]]] = []
    prev = ""
    for ln in lines:
        if ln.startswith("| "):
            if not prev.startswith("|"):
                out.append([])
            out[-1].append([c.strip() for c in ln.strip().strip("|").split("|")])
        prev = ln
    return [{r[0]: dict(zip(rows[0], r, strict=True)) for r in rows[1:]} for rows in out]


def table(lines: list[str]) -> dict[str, dict[str, str]]:
    """The main table (the first): its cells by policy and column."""
    return tables(lines)[0]


def test_the_headline_figures_equal_hand_computed_ones(tmp_path: Path) -> None:
    k = write_run(tmp_path / "kernel", "kernel", "tcg", KERNEL)
    s = write_run(tmp_path / "sim", "sim", "tcg", SIM)
    # a second pricing over three traces: c is only here
    s2 = write_run(tmp_path / "seed", "sim", "seed_table1", SEED)
    lines = headline.headline([headline.read_results(d) for d in (k, s, s2)])
    t, whole = tables(lines)
    assert list(t) == ["shield64", "baseline", "precopy", "oracle"]
    sh, pc, orc = t["shield64"], t["precopy"], t["oracle"]
    # shield64: 900/1000 and 440/400 -> sqrt(0.9 * 1.1); worst b (1.1)
    assert sh["kernel tcg"] == f"{math.sqrt(0.9 * 1.1):.3f}" == "0.995"
    assert sh["worst trace"] == "1.100 b"
    assert pc["kernel tcg"] == f"{math.sqrt(1.5 * 2.0):.3f}" == "1.732"
    assert pc["worst trace"] == "2.000 b"
    # counts = sim: precopy's b differs by one precopied page
    assert (sh["counts = sim"], pc["counts = sim"], t["baseline"]["counts = sim"]) == (
        "2/2", "1/2", "2/2")
    # the sim's ratios: objective x 1.01 over baseline's x 1.01, precopy's b is 808/404
    assert sh["sim tcg"] == "0.995 (1.100)" and pc["sim tcg"] == "1.732 (2.000)"
    assert orc["sim tcg"] == f"{math.sqrt(0.7 * 1.0):.3f} (1.000)" == "0.837 (1.000)"
    # seed_table1 in the main table: over the kernel's a and b alone, c left out
    # (with it shield64 would be cbrt(0.66 * 0.8) = 0.808 and precopy's worst 4.000)
    assert sh["sim seed_table1"] == f"{math.sqrt(0.6 * 1.1):.3f} (1.100)" == "0.812 (1.100)"
    assert pc["sim seed_table1"] == f"{math.sqrt(1.5 * 2.0):.3f} (2.000)" == "1.732 (2.000)"
    assert orc["sim seed_table1"] == f"{math.sqrt(0.7 * 1.0):.3f} (1.000)" == "0.837 (1.000)"
    # the whole-corpus table: seed_table1 over a, b and c, the worst trace named
    assert list(whole) == ["shield64", "baseline", "precopy", "oracle"]
    assert list(whole["shield64"]) == ["policy", "kind", "sim seed_table1",
                                       "worst trace, sim seed_table1"]
    assert [whole[p]["sim seed_table1"] for p in ("shield64", "precopy", "oracle")] == [
        f"{(0.6 * 1.1 * 0.8) ** (1 / 3):.3f}", f"{(1.5 * 2.0 * 4.0) ** (1 / 3):.3f}",
        f"{(0.7 * 1.0 * 0.5) ** (1 / 3):.3f}"] == ["0.808", "2.289", "0.705"]
    assert [whole[p]["worst trace, sim seed_table1"] for p in ("shield64", "precopy",
                                                               "oracle")] == [
        "1.100 b", "4.000 c", "1.000 b"]
    assert whole["baseline"]["sim seed_table1"] == "1.000"
    # totals from the kernel: faults 80 + 40, precopied 30, wasted 10, cow 1240 / 150 writes
    assert [sh[c] for c in ("faults", "precopied", "wasted", "cow ns / write", "COW ms")] == [
        "120", "30", "10", f"{1240 / 150:.0f}", f"{1240 / 1e6:.1f}"]
    assert [pc[c] for c in ("faults", "precopied", "wasted", "cow ns / write")] == [
        "80", "80", "20", "13"]
    # the oracle never ran on the kernel: its kernel cells are '-', the sim's are figures
    assert [orc[c] for c in ("kernel tcg", "worst trace", "counts = sim", "faults")] == [
        "-"] * 4
    text = "\n".join(lines)
    assert lines[:2] == ["Headline: adaptive vs static on the 2 traces kernel tcg ran (a, b)",
                         "  every column over these traces (sim seed_table1: restricted to "
                         "them)"]
    assert "The whole corpus, simulator only: sim seed_table1 over 3 traces: the 2 above " \
        "and c" in text
    # tcg prices a page copied ahead above the fault it saves; seed_table1 below
    assert "tcg: a demand fault 12530 ns, a page copied ahead 12709 ns" in text
    assert "never pays" in text.split("tcg: a demand")[1].splitlines()[0]
    assert "seed_table1: a demand fault 17734 ns, a page copied ahead 12066 ns, so each " \
        "page copied ahead and then written saves 5668 ns (32% of a fault)." in text


def test_counts_without_a_sim_run_of_the_kernels_cost_model(tmp_path: Path) -> None:
    k = write_run(tmp_path / "kernel", "kernel", "tcg", KERNEL)
    s = write_run(tmp_path / "sim", "sim", "host", SIM)
    t = table(headline.headline([headline.read_results(d) for d in (k, s)]))
    assert t["precopy"]["counts = sim"] == "-" and t["precopy"]["sim host"] == "1.732 (2.000)"
    # two runs of one target and cost model are told apart by their directories
    s2 = write_run(tmp_path / "again", "sim", "host", SIM)
    t = table(headline.headline([headline.read_results(d) for d in (k, s, s2)]))
    assert t["oracle"]["sim host (sim)"] == t["oracle"]["sim host (again)"] == "0.837 (1.000)"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ROOT / "experiments" / "headline.py"), *args],
                          cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                          capture_output=True, text=True, timeout=120)


def one_line_error(res: subprocess.CompletedProcess[str]) -> str:
    err = res.stderr.strip().splitlines()
    assert res.returncode == 2 and len(err) == 1 and err[0].startswith("error: "), res.stderr
    return err[0]


def test_a_missing_results_csv_is_a_one_line_error_naming_it(tmp_path: Path) -> None:
    k = write_run(tmp_path / "kernel", "kernel", "tcg", KERNEL)
    assert run(str(k)).returncode == 0
    err = one_line_error(run(str(k), str(tmp_path / "nowhere")))
    assert f"{tmp_path / 'nowhere' / 'results.csv'}: no such file" in err


@pytest.mark.parametrize("edit, says", [
    (lambda s: s.replace(",100,80,30,", ",100,eighty,30,"),
     "results.csv, line 4: faults = 'eighty' is not an integer"),
    (lambda s: s.replace("objective", "objectiv"), "results.csv: no column 'objective'"),
    (lambda s: "\n".join(ln for ln in s.splitlines() if not ln.startswith("precopy,b,")),
     "results.csv: precopy has rows for 1 of the 2 traces (not b)"),
    (lambda s: "\n".join(ln for ln in s.splitlines() if not ln.startswith("baseline,a,")),
     "results.csv: no baseline row with an objective > 0 for a"),
    (lambda s: s.splitlines()[0] + "\n", "results.csv: no rows"),
])
def test_a_malformed_results_csv_is_a_one_line_error_naming_it(tmp_path: Path, edit,
                                                               says: str) -> None:
    k = write_run(tmp_path / "kernel", "kernel", "tcg", KERNEL)
    f = k / "results.csv"
    f.write_text(edit(f.read_text()))
    err = one_line_error(run(str(k)))
    assert err == f"error: {k}/{says}" or err.startswith(f"error: {k}/{says}"), err


def test_a_run_without_one_of_the_kernels_traces_is_a_one_line_error(tmp_path: Path
                                                                      ) -> None:
    k = write_run(tmp_path / "kernel", "kernel", "tcg", KERNEL)
    # over a and c: the kernel's b is missing
    s = write_run(tmp_path / "seed", "sim", "seed_table1",
                  {key: v for key, v in SEED.items() if key[1] != "b"})
    assert one_line_error(run(str(k), str(s))) == (
        f"error: {s}: no rows for trace b, which {k} ran (the headline's table is over its "
        "traces: a, b); give runs over those traces")
    # the measured target's traces are the table's, whatever the order of the runs
    assert one_line_error(run(str(s), str(k))).startswith(
        f"error: {s}: no rows for trace b, which {k} ran")
    # without a measured target, the first run's (here a and c)
    s2 = write_run(tmp_path / "sim", "sim", "tcg", SIM)
    assert one_line_error(run(str(s), str(s2))).startswith(
        f"error: {s2}: no rows for trace c, which {s} ran")


def test_runs_over_the_same_traces_print_no_whole_corpus_table(tmp_path: Path) -> None:
    k = write_run(tmp_path / "kernel", "kernel", "tcg", KERNEL)
    s = write_run(tmp_path / "sim", "sim", "tcg", SIM)
    lines = headline.headline([headline.read_results(d) for d in (k, s)])
    assert len(tables(lines)) == 1 and lines[1] == "  every column over these traces"
    assert not any("whole corpus" in ln for ln in lines)


def test_results_json_without_the_cost_model_is_named(tmp_path: Path) -> None:
    k = write_run(tmp_path / "kernel", "kernel", "tcg", KERNEL)
    (k / "results.json").write_text(json.dumps({"rows": []}))
    assert one_line_error(run(str(k))) == (f"error: {k / 'results.json'}: no meta.costmodel "
                                           "(the cost model's name)")
