"""eval.py target=sim: outputs, schema, trace files, and one-line errors."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from cowrl.evaluate import evaluate
from cowrl.metrics import FIELDS

ROOT = Path(__file__).resolve().parent.parent


def test_eval_sim_writes_results_and_plots(compose_cfg, tmp_path: Path) -> None:
    cfg = compose_cfg("eval", ["target=sim", "policies=[baseline,precopy,hugepage,oracle]",
                               "workloads=[seq,random]", f"out={tmp_path}", "progress=false"])
    res = evaluate(cfg)
    data = json.loads((tmp_path / "results.json").read_text())
    rows = data["rows"]
    assert len(rows) == 8 == len(res["rows"])
    for r in rows:
        assert set(FIELDS) <= set(r)
        assert r["target"] == "sim"
    header = (tmp_path / "results.csv").read_text().splitlines()[0].split(",")
    assert header[: len(FIELDS)] == list(FIELDS)
    for png in ("objective.png", "pareto.png", "write_cdf.png"):
        assert (tmp_path / png).stat().st_size > 1000
    by = {(r["policy"], r["workload"]): r for r in rows}
    # Sequential: precopy k=1 halves the faults and wastes nothing.
    assert by[("precopy", "seq")]["faults"] == by[("baseline", "seq")]["faults"] // 2
    assert by[("precopy", "seq")]["wasted"] == 0
    # The per-fault average rises with precopy while the honest total falls: the seed's bias.
    assert by[("precopy", "seq")]["fault_avg_ns"] > by[("baseline", "seq")]["fault_avg_ns"]
    assert by[("precopy", "seq")]["cow_ns"] < by[("baseline", "seq")]["cow_ns"]
    # Random writes: precopy wastes pages.
    assert by[("precopy", "random")]["wasted"] > 0
    for w in ("seq", "random"):
        assert by[("oracle", w)]["objective"] <= min(
            by[(p, w)]["objective"] for p in ("baseline", "precopy", "hugepage"))


def test_eval_trace_files_become_rows(compose_cfg, tmp_path: Path) -> None:
    a = tmp_path / "alpha.npy"
    np.save(a, np.arange(100))
    b = tmp_path / "beta.txt"
    b.write_text("\n".join(str(i) for i in range(50, 0, -1)) + "\n")
    cfg = compose_cfg("eval", ["policies=[baseline,precopy]", "workloads=[]",
                               f"traces=[{a},{b}]", f"out={tmp_path / 'o'}", "plots=false",
                               "progress=false"])
    rows = evaluate(cfg)["rows"]
    assert {r["workload"] for r in rows} == {"alpha", "beta"}
    beta = {r["policy"]: r for r in rows if r["workload"] == "beta"}
    assert beta["baseline"]["writes"] == 50 and beta["baseline"]["faults"] == 50
    # Descending writes: forward precopy only wastes (page 0 is never written).
    assert beta["precopy"]["faults"] == 50 and beta["precopy"]["precopied"] == 0


def _eval_cli(python: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([python, str(ROOT / "eval.py"), "plots=false", "progress=false",
                           "hydra.run.dir=/tmp/cowrl-test-eval", *args],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["policies=[nope]"], "policies: unknown policy 'nope'"),
        (["workloads=[nope]"], "workloads: unknown workload 'nope'"),
        (["costmodel=seed_table1", "costmodel.copy_ns=-5"],
         "costmodel.copy_ns must be a finite number >= 0"),
        (["workloads=[seq]", "lambda=-1"], "lambda must be >= 0"),
        (["workloads=[]", "traces=[/nonexistent/t.npy]"], "/nonexistent/t.npy"),
    ],
)
def test_eval_bad_input_is_one_line(python: str, args: list[str], needle: str) -> None:
    proc = _eval_cli(python, *args)
    assert proc.returncode != 0
    err = proc.stderr.strip().splitlines()
    assert "Traceback" not in proc.stderr
    assert any(needle in line for line in err), proc.stderr


def test_eval_bad_trace_contents(python: str, tmp_path: Path) -> None:
    bad = tmp_path / "neg.txt"
    bad.write_text("1\n-3\n")
    proc = _eval_cli(python, "workloads=[]", f"traces=[{bad}]")
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"error: {bad}: negative page index -3 at position 1"


def test_eval_negative_workload_size(python: str) -> None:
    proc = _eval_cli(python, "workloads=[seq]", "policies=[baseline]",
                     "+workload_params.seq.n_pages=-5")
    assert proc.returncode == 2
    assert proc.stderr.strip() == "error: workload seq: n_pages must be a positive integer, got -5"


def test_costmodel_auto_follows_the_target(compose_cfg) -> None:
    from cowrl.evaluate import resolve_costmodel

    assert resolve_costmodel(compose_cfg("eval", ["target=sim"])) == "seed_table1"
    assert resolve_costmodel(compose_cfg("eval", ["target=kernel"])) == "tcg"
    explicit = resolve_costmodel(compose_cfg("eval", ["target=kernel", "costmodel=host"]))
    assert explicit.name == "host"


def test_experiment_configs_hold_only_their_overrides(compose_cfg) -> None:
    seed = compose_cfg("eval", ["experiment=seed_table1"])
    assert seed.target.name == "kernel" and list(seed.policies) == ["baseline", "hugepage",
                                                                      "precopy"]
    assert seed.workload_params.seq.n_pages == 16384 and seed.kernel.repeats == 3
    held = compose_cfg("eval", ["experiment=heldout"])
    assert held.target.name == "sim"
    assert all(w.startswith("heldout_") for w in held.workloads)


def test_compare_targets_script(compose_cfg, python: str, tmp_path: Path) -> None:
    """experiments/compare_targets.py pairs two eval outputs (here: sim against itself)."""
    for d in ("a", "b"):
        evaluate(compose_cfg("eval", ["policies=[baseline,precopy,fault_around]",
                                      "workloads=[seq,random]", f"out={tmp_path / d}",
                                      "plots=false", "progress=false", "report=false"]))
    proc = subprocess.run([python, str(ROOT / "experiments" / "compare_targets.py"),
                           str(tmp_path / "a"), str(tmp_path / "b")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "pairs 6, event counts equal in 6" in proc.stdout
    assert "overall 1.00, mean per workload 1.00" in proc.stdout
