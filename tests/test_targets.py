"""The Target interface: every conf/target builds, bad configs fail in one line, the
simulator target equals simulate(), the guest progress bar counts runs, and the kernel
job parser refuses records of another region."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cowrl.errors import ConfigError, CowrlError
from cowrl.kernel.abi import load_abi, record_dtype
from cowrl.kernel.backend import GuestProgress
from cowrl.kernel.jobs import RunRequest, parse_run, write_job
from cowrl.policies.static import Baseline, StaticPrecopy
from cowrl.registry import available, make_costmodel, make_workload
from cowrl.sim import simulate
from cowrl.targets import Plan, Target, make_target
from cowrl.targets.hostbench import HostBench
from cowrl.targets.kernel import KernelTarget
from cowrl.targets.sim import SimTarget
from cowrl.targets.simulated import SimulatedKernel
from cowrl.traces.io import Trace


def test_every_target_config_builds_without_side_effects() -> None:
    built = {name: make_target(name) for name in available("target")}
    assert set(built) >= {"sim", "kernel", "kernel_sim", "host"}
    assert isinstance(built["sim"], SimTarget) and built["sim"].costmodel == "seed_table1"
    assert isinstance(built["kernel"], KernelTarget) and built["kernel"].costmodel == "tcg"
    assert built["kernel"].kernel.runner == "qemu" and built["kernel"].measured
    assert isinstance(built["kernel_sim"], SimulatedKernel) and not built["kernel_sim"].measured
    assert isinstance(built["host"], HostBench) and not isinstance(built["host"], Target)
    host = make_target("kernel", kernel={"runner": "host"})
    assert host.kernel.runner == "host"


@pytest.mark.parametrize(("spec", "field"), [
    ("moon", "target"),
    ({"name": "x"}, "target._target_"),
    ({"_target_": "cowrl.targets.sim.Nope"}, "target._target_"),
    ({"_target_": "cowrl.targets.sim.SimTarget", "colour": 1}, "target.colour"),
    ({"_target_": "cowrl.targets.simulated.SimulatedKernel", "repeats": 0}, "target.repeats"),
    ({"_target_": "cowrl.targets.simulated.SimulatedKernel", "truth": "nope"},
     "target.truth: unknown costmodel 'nope' (available: auto, host, seed_table1, tcg)"),
    ({"_target_": "cowrl.targets.simulated.SimulatedKernel", "truth": 5},
     "target.truth must be a cost model name (auto, host, seed_table1, tcg) or null, got 5"),
    ({"_target_": "cowrl.targets.kernel.KernelTarget", "kernel": {"cpus": 0}}, "kernel.cpus"),
])
def test_bad_target_config_is_one_line(spec: object, field: str) -> None:
    with pytest.raises(ConfigError) as e:
        make_target(spec)  # type: ignore[arg-type]
    assert field in str(e.value) and "\n" not in str(e.value)


def test_sim_target_equals_simulate() -> None:
    cost = make_costmodel("seed_table1")
    traces = [make_workload("stride", n_pages=256), make_workload("random", n_pages=256)]
    pols = [Baseline(), StaticPrecopy(2)]
    runs = [(p, t) for t in traces for p in pols]
    recs = SimTarget().run(Plan(runs, cost, seed=3))
    for (p, t), rec in zip(runs, recs, strict=True):
        ref = simulate(t, p, cost, seed=3)
        assert (rec.policy, rec.workload, rec.target) == (p.name, t.name, "sim")
        assert (rec.faults, rec.precopied, rec.wasted) == (ref.faults, ref.precopied, ref.wasted)
        assert np.array_equal(rec.fault_ns, ref.fault_ns)


def test_simulated_kernel_keeps_the_thp_model_and_counts() -> None:
    """The stand-in prices with the plan's model (noise put on with dataclasses.replace, so
    nothing else is dropped) and returns the simulator's exact counts."""
    from cowrl.sim.costmodel import CopyWholeHuge

    cost = make_costmodel("seed_table1")
    cost.thp_model = CopyWholeHuge()
    target = SimulatedKernel(sigma=0.1, repeats=3)
    truth = target.truth_for(Plan([], cost))
    assert isinstance(truth.thp_model, CopyWholeHuge) and truth.noise.sigma == 0.1
    t = make_workload("seq", n_pages=1024)
    (rec,) = target.run(Plan([(StaticPrecopy(1), t)], cost))
    ref = simulate(t, StaticPrecopy(1), cost)
    assert (rec.faults, rec.precopied, rec.wasted) == (ref.faults, ref.precopied, ref.wasted)
    assert rec.write_ns is not None and rec.write_ns.size == t.writes
    assert len(rec.extra["repeats_cow_ns"]) == 3


def test_guest_progress_counts_runs_from_the_job_dir(tmp_path: Path) -> None:
    gp = GuestProgress(tmp_path, [10, 20, 30], enabled=False)
    assert gp.done() == (False, 0)
    (tmp_path / "runs" / "r000").mkdir(parents=True)
    assert gp.done() == (True, 0)
    (tmp_path / "runs" / "r001").mkdir()
    assert gp.done() == (True, 1) and int(gp.done_writes[1]) == 10
    # the qemu guest's log, streamed over the share, says which runs finished
    (tmp_path / "guest.log").write_text("cowrl-guest: run r000 rc=0\n")
    (tmp_path / "runs" / "r002").mkdir()
    assert gp.done() == (True, 1)
    (tmp_path / "guest.log").write_text("cowrl-guest: run r000 rc=0\ncowrl-guest: run r001 "
                                        "rc=0\n")
    assert gp.done() == (True, 2)
    (tmp_path / "guest.json").write_text("{}")
    assert gp.done() == (True, 3) and int(gp.done_writes[3]) == 60


def test_guest_progress_bar_reaches_the_total(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(GuestProgress, "POLL_S", 0.01)
    with GuestProgress(tmp_path, [100, 300], enabled=True):
        (tmp_path / "runs" / "r000").mkdir(parents=True)
        (tmp_path / "runs" / "r001").mkdir()
        (tmp_path / "guest.json").write_text(json.dumps({"runs": []}))
    err = capsys.readouterr().err
    assert "[kernel] run 2/2" in err and "400/400" in err


def _job_with_records(tmp_path: Path, addrs: list[int]) -> tuple[object, Trace]:
    tr = Trace(np.array([5, 1, 6, 2, 7, 1]), 8, name="t")
    (spec,) = write_job(tmp_path, [RunRequest(tr, StaticPrecopy(1))], "child", {})
    rdir = tmp_path / "runs" / spec.id
    rdir.mkdir(parents=True)
    (rdir / "summary.txt").write_text(
        f"region_start={1 << 30}\nwrites=6\ndemand_faults=2\nprecopy_copies=0\nwasted=0\n"
        "writer_ok=1\nholder_ok=1\nprivate_pages=2\nelapsed_ns=9\n")
    np.arange(6, dtype="<u8").tofile(rdir / "write_ns.bin")
    recs = np.zeros(len(addrs), dtype=record_dtype())
    recs["addr"] = addrs
    recs["flags"] = load_abi().COWRL_REC_DEMAND
    recs.tofile(rdir / "records.bin")
    return spec, tr


def test_parse_run_refuses_records_of_another_region(tmp_path: Path) -> None:
    base = 1 << 30
    spec, tr = _job_with_records(tmp_path, [base + 5 * 4096, base + 1 * 4096])
    assert parse_run(tmp_path, spec, tr, {}).faults == 2  # type: ignore[arg-type]
    for bad in (base + 8 * 4096, base - 4096, 12345):
        spec, tr = _job_with_records(tmp_path / str(bad), [base + 5 * 4096, bad])
        with pytest.raises(CowrlError, match="1 module record.s. outside its region of 8 "
                                             "pages") as e:
            parse_run(tmp_path / str(bad), spec, tr, {})  # type: ignore[arg-type]
        assert "\n" not in str(e.value)


@pytest.mark.kernel
def test_eval_on_the_kernel_target(compose_cfg, tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    """eval.py target=kernel end to end (one boot): counts equal the simulator's, the oracle is
    left out, precopy_best runs its chosen degree, and the guest's runs show a progress bar."""
    from cowrl.evaluate import evaluate

    over = ["policies=[baseline,precopy,precopy_best,oracle]", "workloads=[seq,stride]",
            "workload_params.seq.n_pages=512", "workload_params.stride.n_pages=512",
            "plots=false", "report=false", "progress=true"]
    kern = evaluate(compose_cfg("eval", [*over, "target=kernel", f"out={tmp_path / 'k'}"]))
    err = capsys.readouterr().err
    assert "[kernel] run 7/7" in err  # 6 runs and the warm-up, counted from the guest
    sim = evaluate(compose_cfg("eval", [*over, "target=sim", "costmodel=tcg",
                                        f"out={tmp_path / 's'}"]))
    s = {(r["policy"], r["workload"]): r for r in sim["rows"]}
    assert {r["policy"] for r in kern["rows"]} == {"baseline", "precopy", "precopy_best"}
    for r in kern["rows"]:
        assert r["target"] == "kernel" and r["integrity_ok"]
        ref = s[(r["policy"], r["workload"])]
        assert (r["faults"], r["precopied"], r["wasted"]) == (
            ref["faults"], ref["precopied"], ref["wasted"]), r
    assert kern["meta"]["costmodel"] == "tcg" and kern["meta"]["target_facts"]["measured"]


def test_a_plan_runs_no_module_policies_without_the_module(monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    """``NoModule`` in a plan: its runs go to the session with the module unloaded, under its
    own name (what experiments/seed_table1.py measures); in the simulator it is the baseline.
    The session is replaced by one that records the requests (the real one is a kernel test)."""
    from types import SimpleNamespace

    import cowrl.kernel.backend as backend
    from cowrl.policies.static import NoModule

    seen: list[RunRequest] = []
    cost = make_costmodel("seed_table1")

    def fake_session(reqs: list[RunRequest], cfg: object, progress: bool = False
                     ) -> SimpleNamespace:
        seen.extend(reqs)
        return SimpleNamespace(records=[simulate(r.trace, r.policy, cost) for r in reqs])

    monkeypatch.setattr(backend, "run_session", fake_session)
    t = Trace(np.arange(64), 64, name="seq64")
    recs = KernelTarget({"warmup": False}).run(
        Plan([(NoModule(), t), (Baseline(), t), (NoModule(), t)], cost, repeats=1))
    assert [(r.module, r.label) for r in seen] == [(False, "nomodule"), (True, None),
                                                   (False, "nomodule")]
    assert [r.policy for r in recs] == ["nomodule", "baseline", "nomodule"]
    assert np.array_equal(simulate(t, NoModule(), cost).fault_ns,
                          simulate(t, Baseline(), cost).fault_ns)
