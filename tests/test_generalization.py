"""The leave-one-out protocol: held-out sets, targets, the report, and a sweep through
submitit_local (the launcher family a SLURM cluster uses)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cowrl import generalization as G
from cowrl.errors import ConfigError
from cowrl.registry import make_costmodel

ROOT = Path(__file__).resolve().parent.parent
# Where the protocol looks (conf/generalization.yaml: $COWRL_VALIDATION_DIR, else
# ../shared/validation from the project root), so the test expects what the job will find.
VALIDATION = ROOT / os.environ.get("COWRL_VALIDATION_DIR", "../shared/validation")


def _row(policy: str, trace: str, family: str, ratio: float, best: float, oracle: float,
         pre: int = 0, wasted: int = 0) -> dict:
    return {"policy": policy, "trace": trace, "family": family, "ratio": ratio,
            "vs_best": ratio / best, "oracle_ratio": oracle, "best_ratio": best,
            "precopied": pre, "wasted": wasted, "faults": 1}


def test_targets_hit_and_miss() -> None:
    good = [_row("p", "a", "seq", 0.70, 0.68, 0.66), _row("p", "b", "random", 1.0, 1.0, 0.99,
                                                          pre=1000, wasted=5)]
    t = G.check_targets(good)
    assert t["ok_safety"] and t["ok_near_best"] and t["ok_gain_share"] and t["ok_waste"]
    bad = [_row("p", "a", "seq", 0.95, 0.68, 0.66), _row("p", "b", "random", 1.05, 1.0, 0.99,
                                                         pre=100, wasted=50)]
    t = G.check_targets(bad)
    assert not (t["ok_safety"] or t["ok_near_best"] or t["ok_gain_share"] or t["ok_waste"])
    assert t["safety_trace"] == "b" and t["near_best_trace"] == "a"


def test_target_figures_by_hand() -> None:
    """check_targets' figures on three rows chosen for round numbers: ratios 0.5, 1, 2
    (geometric mean 1: gain 0, where an arithmetic mean would give -1/6), oracle 0.125, 1, 1
    (gain 0.5, share 0); the worst ratio is c's, the farthest from its best fixed k is a's
    (0.5 / 0.4); waste counts the random and sparse rows only (2 of 200), waste_all every row
    (12 of 300: c's -1, a precopy_best-style row, counts as 0); with ceilings 0.5, 1, 0.25
    the ceiling gains 0.5 and a's (0.5 > 1.10 x 0.4) is out of reach."""
    rows = [_row("p", "a", "seq", 0.5, 0.4, 0.125, pre=100, wasted=10),
            _row("p", "b", "random", 1.0, 1.0, 1.0, pre=200, wasted=2),
            _row("p", "c", "sparse", 2.0, 2.5, 1.0, pre=-1, wasted=-1)]
    t = G.check_targets(rows)
    assert t["gain"] == pytest.approx(0.0, abs=1e-12)
    assert t["oracle_gain"] == pytest.approx(0.5) and t["gain_share"] == pytest.approx(0.0)
    assert (t["safety"], t["safety_trace"]) == (2.0, "c")
    assert (t["near_best"], t["near_best_trace"]) == (1.25, "a")
    assert t["waste"] == pytest.approx(0.01) and t["wasted_all"] == 12
    assert t["waste_all"] == pytest.approx(0.04)
    assert (t["ok_safety"], t["ok_near_best"], t["ok_gain_share"], t["ok_waste"]) == (
        False, False, False, True)
    assert t["ceiling_gain"] is None and t["near_best_unreachable"] is None
    for r, c in zip(rows, (0.5, 1.0, 0.25), strict=True):
        r["ceiling_ratio"] = c
    t = G.check_targets(rows)
    assert t["ceiling_gain"] == pytest.approx(0.5) and t["ceiling_share"] == pytest.approx(1.0)
    assert t["of_ceiling"] == pytest.approx(0.0, abs=1e-12)
    assert t["near_best_unreachable"] == ["a"]
    t = G.check_targets(rows[1:])  # no seq row: no waste outside random/sparse, and none there
    assert t["waste"] == pytest.approx(0.01) and t["waste_all"] == pytest.approx(0.01)


def test_held_out_draws_are_not_training_draws() -> None:
    train = G.train_traces(["seq"], seed=0, draws=24)
    assert all(t.meta["family"] != "seq" for t in train)
    test = G.test_traces("seq", 2, None, None)
    assert [t.meta["family"] for t in test] == ["seq", "seq"]
    assert not any(np.array_equal(a.pages, b.pages) for a in test for b in train)
    with pytest.raises(ConfigError, match="holdout"):
        G.test_traces("nope", 1, None, None)


def test_one_job_in_process_reports_the_learned_policy(tmp_path: Path) -> None:
    from omegaconf import OmegaConf

    cfg = OmegaConf.create({
        "holdout": "sparse", "seed": 0, "learners": ["guarded"], "train_overrides": [],
        "train_draws": 4, "test_draws": 2, "lambda": 1.0, "validation_dir": None,
        "corpus_dir": None, "out": str(tmp_path),
        "costmodel": OmegaConf.to_container(OmegaConf.load(ROOT / "conf/costmodel/host.yaml"))})
    job = G.run_job(cfg)
    pols = {r["policy"] for r in job["rows"]}
    assert {"guarded", "readahead", "baseline", "precopy", "precopy_best", "oracle"} <= pols
    assert (tmp_path / "job.json").is_file()
    text = G.report(G.gather(tmp_path))
    assert "| sparse | guarded | 1 |" in text and "cost model host" in text
    assert "| host | guarded | 1 | 1 |" in text  # the pooled held-out families
    # The oracle is never worse than the best fixed degree, which is never worse than k=0.
    for r in job["rows"]:
        assert r["oracle_ratio"] <= r["best_ratio"] + 1e-9 <= 1 + 1e-9
    assert make_costmodel("host").name == "host"
    # The learned table is in job.json: replayed, it gives the job's rows again.
    from cowrl.policies.guarded import GuardedPolicy, shipped_options

    saved = json.loads((tmp_path / "job.json").read_text())["tables"]
    assert list(saved) == ["guarded"] and any(saved["guarded"])
    pol = GuardedPolicy.for_cost(make_costmodel("host"), table=saved["guarded"],
                                 **shipped_options())
    again = G.measure([pol], G.test_traces("sparse", 2, None, None), make_costmodel("host"))
    assert [r["ratio"] for r in again if r["policy"] == "guarded"] == [
        r["ratio"] for r in job["rows"] if r["policy"] == "guarded"]


def test_sweep_through_submitit_local(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    cmd = [sys.executable, str(ROOT / "experiments/generalization.py"), "-m",
           "hydra/launcher=submitit_local", "holdout=sparse,validation", "seed=0,1,2",
           "costmodel=seed_table1", "train_draws=3", "test_draws=1",
           f"hydra.sweep.dir={sweep}", "hydra.launcher.timeout_min=10"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    res = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    jobs = G.gather(sweep)
    assert len(jobs) == 6  # every job of the grid ran and wrote its result
    report = (sweep / "report.md").read_text()
    assert "| sparse | guarded | 3 |" in report
    if VALIDATION.is_dir():  # read in place, never copied into the project
        assert "| validation | guarded | 3 |" in report
    else:
        assert "Skipped: validation" in report


# --- the guarded prototype ---------------------------------------------------------------------


def _ratio(trace, policy, cost) -> float:
    from cowrl.metrics import objective
    from cowrl.policies.static import Baseline
    from cowrl.sim.simulator import simulate

    base = objective(simulate(trace, Baseline(), cost), 1.0, cost.page_cost_ns)
    return objective(simulate(trace, policy, cost), 1.0, cost.page_cost_ns) / base


@pytest.mark.parametrize("cm", ["seed_table1", "host"])
@pytest.mark.parametrize("v3", [False, True])
def test_risk_budget_bounds_the_loss_of_a_reckless_table(cm: str, v3: bool) -> None:
    from cowrl.policies.guarded import N_CELLS, GuardedPolicy
    from cowrl.traces import generators as g

    cost = make_costmodel(cm)
    opts = {"protect": True, "merge": True, "floor": 192} if v3 else {}  # {}: the defaults
    reckless = GuardedPolicy.for_cost(cost, table=[64] * N_CELLS, **opts)
    # Where sentinels are honest (no window ends on a written page by luck), the loss over
    # k=0 stays within the 1% allowance however bad the table is (version 3's protected
    # proofs add no credit, so the same bound holds). A dense random-order fill with
    # partial coverage leaves many windows unproven: the bound must hold there too.
    for t in (g.uniform(n_pages=4096, writes=4096, seed=1), g.sparse(n_pages=4096, seed=2),
              g.reverse(n_pages=2048), g.long_stride(n_pages=4096, stride=64, columns=2),
              g.dense_chunks(n_pages=4096, chunk=64, coverage=0.5, seed=3)):
        assert _ratio(t, reckless, cost) <= 1.01 + 1e-9, t.name
    # ... and proven windows still pay on a sequential writer.
    assert _ratio(g.sequential(n_pages=4096), reckless, cost) < 0.85


def test_protect_keeps_windows_off_a_live_proof() -> None:
    from cowrl.policies.base import FaultContext
    from cowrl.policies.guarded import N_CELLS, GuardedPolicy

    def run(protect: bool) -> tuple[list[int], list[int]]:
        pol = GuardedPolicy(table=[4] * N_CELLS, grant_left=0, scan=0, protect=protect)
        pol.reset(256)
        pol.budget = 10**9  # only the proof rule decides
        out = []
        for p, want in ((40, 4), (30, 64)):  # window 41..44 (sentinel 45), then 64 from 30
            pol.table = [want] * N_CELLS
            out.append(pol.decide(FaultContext(page=p, n_pages=256, fault_index=len(out),
                                               prev_page=-1, prev_k=0, private_pages=0)))
        return out, [pol.ctx.tags[45] >> 1, pol.ctx.tag_pages[45]]

    # Unprotected, the second window covers sentinel 45 and the first window's proof is
    # lost (the page becomes private, it never faults); protected, the second window stops
    # below it (the largest degree < 15) and the sentinel stays live with its 4 pages.
    assert run(False)[0] == [4, 64]
    assert run(True) == ([4, 8], [46, 4])


def test_guarded_decides_from_the_past_only() -> None:
    from cowrl.policies.base import FaultContext
    from cowrl.policies.guarded import N_CELLS, GuardedPolicy
    from cowrl.traces import generators as g

    t = g.randomized(seed=4, draw=1)
    pol = GuardedPolicy(table=[8] * N_CELLS)

    def decisions(pages: np.ndarray) -> list[int]:
        pol.reset(t.n_pages)
        private, out = bytearray(t.n_pages), []
        for p in pages.tolist():
            if private[p]:
                continue
            k = pol.decide(FaultContext(page=p, n_pages=t.n_pages, fault_index=len(out),
                                        prev_page=-1, prev_k=0, private_pages=0))
            hi = min(p + k, t.n_pages - 1)
            private[p:hi + 1] = b"\x01" * (hi + 1 - p)
            out.append(k)
        return out

    full, half = decisions(t.pages), decisions(t.pages[: t.writes // 2])
    assert full[: len(half)] == half


CORPUS = ROOT / "data" / "traces"


def test_leave_one_app_out_holds_out_every_recording_and_never_trains_on_it(
        tmp_path: Path) -> None:
    from omegaconf import OmegaConf

    apps = G.app_traces(CORPUS)
    # The six cpython recordings are one application: holding it out holds out all six.
    cpython = ["cpython_kvcache", "cpython_pool", "cpython_prefork", "cpython_prefork_freeze",
               "cpython_render", "cpython_statedump"]
    assert sorted(f.stem for f in apps["cpython"]) == cpython
    test = G.test_traces("app:cpython", 1, None, CORPUS)
    assert sorted(t.name for t in test) == cpython
    for app in apps:
        train = {f.stem for f in G.corpus_train_files(f"app:{app}", CORPUS)}
        assert train and not train & {f.stem for f in apps[app]}
        assert train == {f.stem for a, fs in apps.items() if a != app for f in fs}
    # A family or the validation set trains on the whole corpus.
    assert len(G.corpus_train_files("seq", CORPUS)) == sum(map(len, apps.values()))
    # train.py learners (bandit, ppo, dqn) get the same recordings as workloads, nothing else.
    over = G.train_py_overrides("bandit", make_costmodel("host"), 1.0, 0, [],
                                [], G.corpus_train_files("app:cpython", CORPUS))
    wl = next(o for o in over if o.startswith("workloads="))
    assert "redis_bgsave" in wl and "shell_subshells" in wl and "cpython" not in wl
    with pytest.raises(ConfigError, match="corpus_dir"):
        G.train_py_overrides("bandit", make_costmodel("host"), 1.0, 0, [], [],
                             [tmp_path / "nosuchapp_x.npz"])

    # One tiny job per learner path: the guarded table and train.py's bandit, both with the
    # corpus minus cpython in training; the report names the held-out set.
    cfg = OmegaConf.create({
        "holdout": "app:cpython", "seed": 0, "learners": ["guarded", "bandit"],
        "train_overrides": ["rounds=1", "eval_every=1"], "train_draws": 2, "passes": 1,
        "test_draws": 1, "lambda": 1.0, "validation_dir": None, "corpus_dir": str(CORPUS),
        "out": str(tmp_path),
        "costmodel": OmegaConf.to_container(OmegaConf.load(ROOT / "conf/costmodel/host.yaml"))})
    job = G.run_job(cfg)
    others = sorted(f.stem for a, fs in G.app_traces(CORPUS).items() if a != "cpython"
                    for f in fs)
    assert "redis_bgsave" in others and sorted(job["train_corpus"]) == others
    assert job["n_train"] == 2 + len(others) and job["n_test"] == len(cpython) == 6
    assert {r["trace"] for r in job["rows"]} == set(cpython)
    assert {"guarded", "bandit", "readahead", "precopy_best", "oracle"} <= {
        r["policy"] for r in job["rows"]}
    assert "| app:cpython | bandit | 1 |" in G.report(G.gather(tmp_path))
    # train_corpus=false keeps the recordings out of training.
    cfg.learners, cfg.train_corpus = ["guarded"], False
    assert G.run_job(cfg)["train_corpus"] == []


def test_no_share_of_an_oracle_gain_under_one_percent() -> None:
    rows = [_row("p", "a", "seq", 1.03, 1.0, 0.998)]
    t = G.check_targets(rows)
    assert t["gain_share"] is None and t["ok_gain_share"] is None and not t["ok_safety"]
    assert "| seq | p | 1 | -3.0% (-3.0..-3.0) | +0.2% | - |" in G.report(
        [{"holdout": "seq", "seed": 0, "costmodel": "tcg", "rows": rows}])


def test_gain_by_trace_length_buckets_each_trace_by_its_baseline_faults() -> None:
    def rows(trace: str, faults: int, ratio: float, oracle: float) -> list[dict]:
        out = [{**_row(p, trace, "seq", r, oracle, oracle), "faults": faults}
               for p, r in (("baseline", 1.0), ("p", ratio), ("oracle", oracle))]
        out[1]["faults"] = 3  # a policy's own fault count must not move its trace's bucket
        return out

    jobs = [{"holdout": "seq", "seed": 0, "costmodel": "host",
             "rows": rows("short", 100, 1.0, 0.9) + rows("long", 5000, 0.8, 0.8)}]
    assert G.length_bucket(255) == "0-255" and G.length_bucket(256) == "256-1,023"
    assert G.length_bucket(16384) == ">= 16,384"
    text = "\n".join(G.length_summary(jobs))
    assert "| host | 0-255 | 1 | +0.0% (0.00) | +10.0% (1.00) |" in text
    assert "| host | 4,096-16,383 | 1 | +20.0% (1.00) | +20.0% (1.00) |" in text
    assert "gain by trace length" in G.report(jobs)


def _job_cfg(tmp_path: Path, **fields: object):
    from omegaconf import OmegaConf

    return OmegaConf.create({
        "holdout": "sparse", "seed": 0, "learners": ["guarded"], "train_overrides": [],
        "train_draws": 2, "test_draws": 1, "passes": 1, "lambda": 1.0,
        "validation_dir": None, "corpus_dir": None, "train_corpus": True,
        "out": str(tmp_path / "out"),
        "costmodel": OmegaConf.to_container(OmegaConf.load(ROOT / "conf/costmodel/host.yaml")),
        **fields})


@pytest.mark.parametrize("field,value", [
    ("seed", "abc"), ("seed", -1), ("lambda", float("nan")), ("lambda", "abc"),
    ("train_draws", 0), ("test_draws", 0), ("test_draws", "x"), ("passes", 0),
    ("train_corpus", "maybe"), ("learners", ["nope"]), ("learners", "nope"), ("learners", []),
    ("learners", {"a": 1}), ("corpus_dir", "/nonexistent/corpus"), ("holdout", "nope"),
    ("holdout", "app:nope")])
def test_a_bad_job_field_is_one_line_naming_it_before_any_training(
        tmp_path: Path, field: str, value: object) -> None:
    cfg = _job_cfg(tmp_path, **{field: value})
    if field == "holdout":
        cfg.corpus_dir = str(CORPUS)
    with pytest.raises(ConfigError, match=f"^{field}") as e:
        G.run_job(cfg)
    assert "\n" not in str(e.value)
    if value == "app:nope":  # the applications that can be held out are listed
        assert "app:cpython" in str(e.value) and "app:redis" in str(e.value)
    if field == "learners" and value == ["nope"]:
        assert "guarded" in str(e.value)  # the policies that can be named


def test_generalization_py_bad_scalars_are_one_line_status_2(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for args in (["seed=abc"], ["lambda=nan"], [f"report={tmp_path / 'none'}"]):
        res = subprocess.run([sys.executable, str(ROOT / "experiments/generalization.py"),
                              *args, f"out={tmp_path}"], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=300)
        key = args[0].split("=")[0]
        assert res.returncode == 2 and res.stderr.startswith(f"error: {key}"), res.stderr
        assert len(res.stderr.strip().splitlines()) == 1, res.stderr


@pytest.mark.parametrize(("arg", "line"), [
    # eval.py's and train.py's spellings of the learners
    ("policies=[guarded,ppo]", "error: policies: no such field here (generalization.py takes "
     "a list: learners=[guarded,ppo])"),
    ("+policies=[ppo]", "error: policies: no such field here (generalization.py takes a list: "
     "learners=[ppo])"),
    ("policy=ppo", "(generalization.py takes a list: learners=[ppo])"),
    ("+foo=1", "error: foo: no such field here (generalization.py never reads it)"),
])
def test_generalization_py_other_spellings_are_one_line(tmp_path: Path, arg: str,
                                                        line: str) -> None:
    res = subprocess.run([sys.executable, str(ROOT / "experiments/generalization.py"), arg,
                          f"out={tmp_path}"], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                         capture_output=True, text=True, timeout=300)
    err = res.stderr.strip().splitlines()
    assert res.returncode == 2 and len(err) == 1 and line in err[0], res.stderr


@pytest.mark.parametrize(("text", "what"), [
    ('{"holdout": "seq", "seed": 0, "costm', "not valid JSON"),  # a job cut short
    ("[1, 2]", "is not a job"),
    ('{"holdout": "seq", "seed": 0, "costmodel": "host"}', "is not a job"),  # no rows
])
def test_report_of_a_bad_job_json_is_one_line_naming_the_file(tmp_path: Path, text: str,
                                                               what: str) -> None:
    (tmp_path / "0").mkdir()
    bad = tmp_path / "0" / "job.json"
    bad.write_text(text)
    with pytest.raises(ConfigError, match="^report: ") as e:
        G.report_of(tmp_path)
    assert str(bad) in str(e.value) and what in str(e.value) and "\n" not in str(e.value)


def test_experiment_scripts_bad_json_arguments_are_one_line_status_2(tmp_path: Path) -> None:
    """--tables naming no file and --options that are not JSON: one line naming the option
    (they were tracebacks), before any work."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for args, key in ((["--tables", str(tmp_path / "none.json")], "--tables"),
                      (["--options", "{bad"], "--options")):
        res = subprocess.run([sys.executable, str(ROOT / "experiments/guarded_use.py"), *args],
                             cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert res.returncode == 2 and res.stderr.startswith(f"error: {key}: "), res.stderr
        assert len(res.stderr.strip().splitlines()) == 1, res.stderr


@pytest.mark.parametrize(("script", "args", "line"), [
    # bandit_dev.py trained every variant (minutes) before it read --refs / --artifacts
    ("bandit_dev", ["--refs", "guarded,nope"], "error: --refs: unknown policy 'nope'"),
    ("bandit_dev", ["--artifacts", "/nonexistent/a"], "error: checkpoints: no policy artifact"),
    # guarded_diagnosis.py ran an unknown mode as "instant"; guarded_use.py held nothing out for
    # an unknown application and learned a table "without" it
    ("guarded_diagnosis", ["--modes", "shipped,nope"], "error: --modes: unknown mode 'nope'"),
    # guarded_diagnosis.py drew the held-out test traces by default (session 29: development
    # seeds 2000+; the held-out draws only with --heldout-eval)
    ("guarded_diagnosis", ["--first", "100"], "error: --first: development draws are seeds 2000+"),
    ("guarded_use", ["--holdout", "app:nope"], "error: --holdout: 'app:nope' is not app:NAME"),
    # learner_ablation.py trained the variants before a misspelt one (status 1)
    ("learner_ablation", ["--variants", "plain,nope"], "error: --variants: unknown variant"),
    # bench_traces.py: numpy's "negative dimensions are not allowed" traceback
    ("bench_traces", ["--writes", "-1"], "error: --writes, --regions and --region-pages must "
                                         "be positive"),
])
def test_experiment_scripts_check_arguments_before_work(script: str, args: list[str],
                                                        line: str) -> None:
    res = subprocess.run([sys.executable, str(ROOT / "experiments" / f"{script}.py"), *args],
                         cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and line in res.stderr.strip().splitlines()[-1], res.stderr
    assert "trained" not in res.stdout  # no variant trained first


def test_holdout_names_checks_every_name_before_any_work(tmp_path: Path) -> None:
    assert G.holdout_names("seq,stride", "--families", families_only=True) == ["seq", "stride"]
    assert G.holdout_names("seq,validation,app:redis", "--holdouts", CORPUS) == [
        "seq", "validation", "app:redis"]
    for text, families_only in (("seq,nope", True), ("validation", True), ("app:redis", True),
                                ("app:nope", False), ("", True)):
        with pytest.raises(ConfigError, match="^--x: ") as e:
            G.holdout_names(text, "--x", CORPUS, families_only=families_only)
        assert "\n" not in str(e.value)


def test_a_bad_train_override_is_one_line_before_any_learner_trains(tmp_path: Path) -> None:
    """A train_overrides entry Hydra cannot apply was Hydra's multi-line error, raised when the
    bandit's turn came (after guarded had learned its table)."""
    cfg = _job_cfg(tmp_path, learners=["guarded", "bandit"], train_overrides=["nosuch=1"])
    with pytest.raises(ConfigError, match=r"^train_overrides: Could not override 'nosuch'") as e:
        G.job_options(cfg)
    assert "\n" not in str(e.value)
    ok = G.job_options(_job_cfg(tmp_path, learners=["guarded", "bandit"],
                                train_overrides=["policy.floor=64"]))
    assert ok["train_overrides"] == ["policy.floor=64"]


def test_guarded_options_reach_the_learned_guarded_policy(tmp_path: Path) -> None:
    """guarded_options sets budget options over the shipped ones for the guarded learner (the
    held-out check of a candidate option): the job learns and measures guarded with them,
    writes them into job.json, and the references keep their own configs."""
    from cowrl.policies.guarded import GuardedPolicy, shipped_options

    traces = G.train_traces(["sparse"], seed=0, draws=2)
    cost = make_costmodel("host")
    pol = G.train_learner("guarded", traces, cost, 1.0, 0, passes=1,
                          guarded_options={"floor_slow": 5})
    assert isinstance(pol, GuardedPolicy) and pol.ctx.slow_shift == 5
    assert pol.floor == shipped_options()["floor"]  # the other shipped keys kept
    plain = G.train_learner("guarded", traces, cost, 1.0, 0, passes=1)
    assert plain.ctx.slow_shift == 0
    cfg = _job_cfg(tmp_path, guarded_options={"floor_slow": 5})
    assert G.job_options(cfg)["guarded_options"] == {"floor_slow": 5}
    job = G.run_job(cfg)
    assert job["guarded_options"] == {"floor_slow": 5}
    assert json.loads((tmp_path / "out" / "job.json").read_text())["guarded_options"] == {
        "floor_slow": 5}
    assert "guarded_options" not in G.run_job(_job_cfg(tmp_path))  # none given: as before


@pytest.mark.parametrize("value,line", [
    ({"floor_slow": 4}, "guarded_options: policy.floor_slow must be 0 or in 5..12"),
    ({"nosuch": 1}, "guarded_options: 'nosuch' is not a budget option"),
    ({"table": 64}, "guarded_options: 'table' is not a budget option"),
    ("floor_slow", "guarded_options: must be a mapping"),
])
def test_a_bad_guarded_option_is_one_line_naming_the_field(tmp_path: Path, value: object,
                                                           line: str) -> None:
    with pytest.raises(ConfigError, match=f"^{line}") as e:
        G.job_options(_job_cfg(tmp_path, guarded_options=value))
    assert "\n" not in str(e.value)
    with pytest.raises(ConfigError, match="^guarded_options: set, but guarded is not"):
        G.job_options(_job_cfg(tmp_path, learners=["readahead"],
                               guarded_options={"floor_slow": 5}))


def test_guarded_prior_fills_the_cells_the_data_do_not_decide() -> None:
    """learn_table's ``prior``: 0 is the learner as before (an arm must beat k = 0, whose
    hindsight reward is 0); with 64 a cell asks 64 unless an arm beats 64 by the margin, so
    every cell no fault reached asks 64, and the cells that ask less than 64 are cells
    the data decided (their best arm's sum beats arm 64's)."""
    from cowrl.policies.guarded import (
        ALIGN,
        ALIGN_GROUPS_LEARNED,
        DEGREES,
        N_CELLS,
        learn_table,
        shipped_options,
    )

    traces = G.train_traces(["sparse"], seed=0, draws=3)
    cost = make_costmodel("host")
    zero = learn_table(traces, [cost], seed=0, passes=1, **shipped_options())
    again = learn_table(traces, [cost], seed=0, passes=1, prior=0, **shipped_options())
    assert again["table"] == zero["table"]
    p64 = learn_table(traces, [cost], seed=0, passes=1, prior=64, **shipped_options())
    t, w = p64["table"], p64["weight"]
    unvisited = [c for c in range(N_CELLS) if w[c] == 0]
    assert unvisited and all(t[c] == 64 for c in unvisited)
    assert all(zero["table"][c] == 0 for c in range(N_CELLS) if zero["weight"][c] == 0)
    arms = list(DEGREES) + [ALIGN | g for g in ALIGN_GROUPS_LEARNED]
    sums, i64 = p64["sums"], arms.index(64)
    for c in range(N_CELLS):  # a cell leaves 64 only for an arm that beats it by the margin
        b = int(np.argmax(sums[c]))
        beats = sums[c, b] - sums[c, i64] > 0.02 * w[c]
        assert t[c] == (arms[b] if beats else 64), (c, t[c], sums[c])


def test_learn_tables_shares_passes_and_learns_what_learn_table_learns() -> None:
    """``learn_tables`` replays a pass once for the (prior, margin) variants it is the same
    for; each variant's table and sums are those of its own ``learn_table`` call (the same
    exploration stream), in the order given, and a bad prior is refused naming it."""
    from cowrl.policies.guarded import learn_table, learn_tables, shipped_options

    traces = G.train_traces(["sparse"], seed=0, draws=3)
    cost = make_costmodel("host")
    variants = [(64, 0.1), (0, 0.02), (64, 0.02), (0, 20.0)]
    many = learn_tables(traces, [cost], variants, seed=1, passes=2, **shipped_options())
    assert len(many) == len(variants)
    for (prior, margin), got in zip(variants, many, strict=True):
        one = learn_table(traces, [cost], seed=1, passes=2, prior=prior, margin=margin,
                          **shipped_options())
        assert got["table"] == one["table"], (prior, margin)
        assert np.array_equal(got["sums"], one["sums"]) and np.array_equal(got["weight"],
                                                                         one["weight"])
    # a margin of 20 x the cell's baseline share keeps the prior in more cells
    assert many[3]["table"] != many[1]["table"]
    assert sum(v != 0 for v in many[3]["table"]) < sum(v != 0 for v in many[1]["table"])
    with pytest.raises(ConfigError, match=r"^prior: a degree of 0, 1, 2.*got 3$"):
        learn_tables(traces, [cost], [(0, 0.02), (3, 0.02)], passes=1)


@pytest.mark.parametrize("value", [3, -1, 1.5, True, "64"])
def test_a_bad_guarded_prior_is_one_line_naming_the_field(tmp_path: Path,
                                                          value: object) -> None:
    with pytest.raises(ConfigError, match="^guarded_prior: a degree of 0, 1, 2") as e:
        G.job_options(_job_cfg(tmp_path, guarded_prior=value))
    assert "\n" not in str(e.value)
    assert G.job_options(_job_cfg(tmp_path, guarded_prior=64))["guarded_prior"] == 64
    with pytest.raises(ConfigError, match="^guarded_prior: set, but guarded is not"):
        G.job_options(_job_cfg(tmp_path, learners=["readahead"], guarded_prior=64))


def test_guarded_adjacent_learns_beside_guarded_from_the_same_traces(tmp_path: Path) -> None:
    """``learners=[guarded,guarded_adjacent]``: one job learns both tables from the same
    training traces, ``guarded``'s with the shipped strided windows (``stride_window: 1``),
    ``guarded_adjacent``'s with ``stride_window: 0`` (conf/policy/guarded_adjacent.yaml's
    options); both rows are in job.json and the report, both tables are saved, and each saved
    table replayed with its options gives its rows again; ``guarded_options`` and
    ``guarded_prior`` reach both; an option the strided learner refuses is a one-line error
    naming ``guarded_options``; session 29's learner ``guarded_stride`` is one line naming
    ``learners``."""
    from cowrl.policies.guarded import GuardedPolicy, shipped_options

    assert shipped_options()["stride_window"] == 1
    assert shipped_options("guarded_adjacent") == {**shipped_options(), "stride_window": 0}
    cfg = _job_cfg(tmp_path, holdout="stride", learners=["guarded", "guarded_adjacent"],
                   train_draws=3, test_draws=2)
    job = G.run_job(cfg)
    pols = {r["policy"] for r in job["rows"]}
    assert {"guarded", "guarded_adjacent", "shield64"} <= pols
    assert all(r["learned"] for r in job["rows"]
               if r["policy"] in ("guarded", "guarded_adjacent"))
    tables = json.loads((tmp_path / "out" / "job.json").read_text())["tables"]
    assert set(tables) == {"guarded", "guarded_adjacent"}
    text = G.report(G.gather(tmp_path / "out"))
    assert "| stride | guarded | 1 |" in text and "| stride | guarded_adjacent | 1 |" in text
    cost = make_costmodel("host")
    ratios = {}
    for name in ("guarded", "guarded_adjacent"):
        pol = GuardedPolicy.for_cost(cost, table=tables[name], **shipped_options(name))
        again = G.measure([pol], G.test_traces("stride", 2, None, None), cost)
        ratios[name] = [r["ratio"] for r in again if r["policy"] == "guarded"]
        assert ratios[name] == [r["ratio"] for r in job["rows"] if r["policy"] == name], name
    # the strided learner copies down the held-out column sweeps: below the adjacent one on each
    assert all(a < b for a, b in zip(ratios["guarded"], ratios["guarded_adjacent"],
                                     strict=True)), ratios
    # options and prior reach the adjacent learner alone too
    traces = G.train_traces(["sparse"], seed=0, draws=2)
    p = G.train_learner("guarded_adjacent", traces, cost, 1.0, 0, passes=1,
                        guarded_options={"floor_slow": 5}, guarded_prior=64)
    assert isinstance(p, GuardedPolicy) and p.name == "guarded_adjacent"
    assert p.stride_window == 0 and p.ctx.slow_shift == 5 and 64 in p.table
    ok = G.job_options(_job_cfg(tmp_path, learners=["guarded_adjacent"], guarded_prior=64,
                                guarded_options={"floor_slow": 5}))
    assert ok["guarded_prior"] == 64 and ok["guarded_options"] == {"floor_slow": 5}
    with pytest.raises(ConfigError, match="^guarded_options: policy.stride_window") as e:
        G.job_options(_job_cfg(tmp_path, learners=["guarded", "guarded_adjacent"],
                               guarded_options={"protect": True}))
    assert "\n" not in str(e.value)
    with pytest.raises(ConfigError, match="^learners: policy 'guarded_stride' is gone: ") as e:
        G.job_options(_job_cfg(tmp_path, learners=["guarded", "guarded_stride"]))
    assert "\n" not in str(e.value) and "guarded_adjacent" in str(e.value)
