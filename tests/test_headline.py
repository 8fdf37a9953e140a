"""experiments/headline.py (the demo's last step) on hand-written results: its geometric
means, worst traces, counts = sim and totals equal figures computed by hand; a missing or
malformed results.csv is a one-line error naming the file."""

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


def table(lines: list[str]) -> dict[str, dict[str, str]]:
    """The printed table's cells by policy and column."""
    rows = [[c.strip() for c in ln.strip().strip("|").split("|")]
            for ln in lines if ln.startswith("| ")]
    return {r[0]: dict(zip(rows[0], r, strict=True)) for r in rows[1:]}


def test_the_headline_figures_equal_hand_computed_ones(tmp_path: Path) -> None:
    k = write_run(tmp_path / "kernel", "kernel", "tcg", KERNEL)
    s = write_run(tmp_path / "sim", "sim", "tcg", SIM)
    # a second pricing over three traces: c is only here
    s2 = write_run(tmp_path / "seed", "sim", "seed_table1",
                   {**SIM, ("baseline", "c"): (10, 10, 0, 0, 10.0, 10.0),
                    **{(p, "c"): (10, 10, 0, 0, 10.0, v) for p, v in
                       (("shield64", 8.0), ("precopy", 40.0), ("oracle", 5.0))}})
    lines = headline.headline([headline.read_results(d) for d in (k, s, s2)])
    t = table(lines)
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
    # seed_table1 over a, b, c: shield64 cbrt(0.9 * 1.1 * 0.8), worst b; oracle worst b
    assert sh["sim seed_table1"] == f"{(0.9 * 1.1 * 0.8) ** (1 / 3):.3f} (1.100)"
    assert pc["sim seed_table1"] == f"{(1.5 * 2.0 * 4.0) ** (1 / 3):.3f} (4.000)" == \
        "2.289 (4.000)"
    assert orc["sim seed_table1"] == f"{(0.7 * 1.0 * 0.5) ** (1 / 3):.3f} (1.000)"
    # totals from the kernel: faults 80 + 40, precopied 30, wasted 10, cow 1240 / 150 writes
    assert [sh[c] for c in ("faults", "precopied", "wasted", "cow ns / write", "COW ms")] == [
        "120", "30", "10", f"{1240 / 150:.0f}", f"{1240 / 1e6:.1f}"]
    assert [pc[c] for c in ("faults", "precopied", "wasted", "cow ns / write")] == [
        "80", "80", "20", "13"]
    # the oracle never ran on the kernel: its kernel cells are '-', the sim's are figures
    assert [orc[c] for c in ("kernel tcg", "worst trace", "counts = sim", "faults")] == [
        "-"] * 4
    text = "\n".join(lines)
    assert "kernel tcg, sim tcg: 2 traces (a, b)" in text
    assert "sim seed_table1: 3 traces (a, b, c)" in text
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


def test_results_json_without_the_cost_model_is_named(tmp_path: Path) -> None:
    k = write_run(tmp_path / "kernel", "kernel", "tcg", KERNEL)
    (k / "results.json").write_text(json.dumps({"rows": []}))
    assert one_line_error(run(str(k))) == (f"error: {k / 'results.json'}: no meta.costmodel "
                                           "(the cost model's name)")
