"""Calibration: the fits recover known parameters, the YAML round-trips, host calibration runs."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from omegaconf import OmegaConf

from cowrl.calibration import calibrate
from cowrl.calibration.config import (
    QUICK_HOST,
    QUICK_KERNEL,
    CalibrationConfig,
    HostBenchConfig,
    KernelBenchConfig,
)
from cowrl.calibration.fit import (
    FaultSamples,
    FitError,
    fit_fault_model,
    fit_linear,
    lognormal_sigma,
    mean_difference,
    run_medians,
    trim_outliers,
)
from cowrl.calibration.host import fit_host
from cowrl.calibration.kernel import design, fit_kernel
from cowrl.errors import ConfigError
from cowrl.metrics import RunRecord
from cowrl.registry import make_costmodel
from cowrl.sim.costmodel import CostModel, NoiseModel
from cowrl.targets import Plan
from cowrl.targets.simulated import SimulatedKernel

ROOT = Path(__file__).resolve().parent.parent
TRUTH = dict(fault_ns=1500.0, copy_ns=3000.0, precopy_ns=2000.0, thp_split_ns=20000.0,
             write_ns=50.0)


def _fake(truth: CostModel, seed: int, order: list) -> list[RunRecord]:
    """The design's runs on the test target, priced by ``truth`` with its own noise."""
    return SimulatedKernel(truth=truth, sigma=None, seed=seed).run(Plan(order, truth))


def test_fit_linear_exact_and_degenerate() -> None:
    x = np.arange(10.0)
    f = fit_linear({"a": np.ones(10), "b": x}, 3.0 + 2.0 * x)
    assert f["a"] == pytest.approx(3.0) and f["b"] == pytest.approx(2.0)
    assert f.r2 == pytest.approx(1.0) and f.rmse == pytest.approx(0.0, abs=1e-9)
    with pytest.raises(FitError, match="do not identify"):
        fit_linear({"a": np.ones(10), "b": np.ones(10)}, x)


def test_lognormal_sigma_recovers_shape() -> None:
    r = np.random.default_rng(0).lognormal(0.0, 0.3, size=20000) * 5.0
    n = lognormal_sigma(r)
    assert n["sigma"] == pytest.approx(0.3, abs=0.01)
    assert n["sigma_iqr"] == pytest.approx(0.3, abs=0.02)


def test_lognormal_sigma_by_hand() -> None:
    """Ratios 5, 5e, 5/e (and a 0, a negative and an infinite one, dropped): log of ratio /
    median = 0, 1, -1: sigma sqrt(2/3), the quartiles -1/2 and 1/2, the 99th percentile
    0.98 (numpy's linear interpolation between 0 and 1)."""
    r = np.array([5.0, 5 * np.e, 5 / np.e, 0.0, -1.0, np.inf])
    n = lognormal_sigma(r)
    assert n["sigma"] == pytest.approx(np.sqrt(2 / 3)) and n["n"] == 3
    assert n["sigma_iqr"] == pytest.approx(1 / 1.349)
    assert n["p99_over_median"] == pytest.approx(np.exp(0.98))
    with pytest.raises(FitError, match="too few samples"):
        lognormal_sigma(np.array([1.0, 0.0]))


def test_mean_difference_by_hand() -> None:
    """a = 1, 2, 3 (mean 2, variance 1), b = 10, 10, 13 (mean 11, variance 3): -9 with the
    Welch standard error sqrt(1/3 + 3/3)."""
    d = mean_difference(np.array([1.0, 2.0, 3.0]), np.array([10.0, 10.0, 13.0]))
    assert d["diff_ns"] == pytest.approx(-9.0) and d["stderr_ns"] == pytest.approx(
        np.sqrt(4 / 3))
    assert (d["mean_a_ns"], d["mean_b_ns"], d["n_a"], d["n_b"]) == (2.0, 11.0, 3, 3)
    with pytest.raises(FitError, match=r"too few samples for a difference of means \(1, 3\)"):
        mean_difference(np.array([1.0]), np.array([1.0, 2.0, 3.0]))


def _samples(latency: list, precopied: list, thp: list, run: list) -> FaultSamples:
    return FaultSamples(*(np.array(v, dtype=np.float64) for v in (latency, precopied, thp, run)))


def test_outliers_are_trimmed_against_their_run_and_kind() -> None:
    """Run 0: five plain faults at 100 + 50 x precopied, one interrupted (9,000 ns), two
    first faults in a huge page at 3,000 (a 2,900 ns split); run 1, slower: three at 1,000.
    Each sample's reference is the median of its run and kind (225, 3,000, 1,000), so with
    factor 10 only the 9,000 goes: the splits are not outliers of the plain faults (their
    pooled median, 275, would trim them) and run 1 is not an outlier of run 0."""
    s = _samples([100, 150, 200, 250, 300, 9000, 3000, 3000, 1000, 1000, 1000],
                 [0, 1, 2, 3, 4, 0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0],
                 [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1])
    med = run_medians(s)
    assert med.tolist() == [225.0] * 6 + [3000.0] * 2 + [1000.0] * 3
    keep = trim_outliers(s.latency_ns, med, 10.0)
    assert keep.tolist() == [True] * 5 + [False] + [True] * 5
    assert trim_outliers(s.latency_ns, med, 0.0).all()  # factor 0 keeps everything
    # the fault model on run 0: trimmed, the fit is exact; untrimmed, it is not
    run0 = s.select(s.run == 0)
    fit, trimmed = fit_fault_model(run0, trim_factor=10.0)
    assert trimmed == 1 and fit.names == ["demand_ns", "precopy_ns", "thp_split_ns"]
    assert (fit["demand_ns"], fit["precopy_ns"], fit["thp_split_ns"]) == pytest.approx(
        (100.0, 50.0, 2900.0))
    raw, none = fit_fault_model(run0, trim_factor=0.0)
    assert none == 0 and raw["demand_ns"] > 1000


@pytest.mark.parametrize("sigma", [0.0, 0.1])
def test_kernel_fit_recovers_simulated_parameters(sigma: float) -> None:
    """The simulator with known parameters (and noise) stands in for the kernel."""
    truth = CostModel(**TRUTH, noise=NoiseModel("lognormal" if sigma else "none", sigma))
    kb = KernelBenchConfig(ks=[0, 1, 2, 4, 8], region_pages=[2048, 4096], reps=1)
    _, _, order = design(kb)
    records = _fake(truth, 1, order)
    res = fit_kernel(records, order, trim_factor=10.0)
    p = res["params"]
    scale = np.exp(sigma ** 2 / 2)  # the noise factor has median 1, so mean exp(s²/2)
    assert p["fault_ns"] + p["copy_ns"] == pytest.approx(4500.0 * scale, rel=0.02)
    assert p["precopy_ns"] == pytest.approx(2000.0 * scale, rel=0.03)
    assert p["thp_split_ns"] == pytest.approx(20000.0 * scale, rel=0.15 if sigma else 1e-6)
    assert p["write_ns"] == pytest.approx(50.0, rel=0.05)
    # the fake's in-kernel time is copy_ns: the split recovers it
    assert p["copy_ns"] == pytest.approx(3000.0, rel=0.05)
    assert p["sigma"] == pytest.approx(sigma, abs=0.02)
    assert res["fits"]["faults"]["r2"] > (0.99 if sigma == 0 else 0.8)


@pytest.mark.parametrize("sigma", [0.0, 0.1])
def test_kernel_fit_recovers_setup_and_skip_costs(sigma: float) -> None:
    """Known precopy_setup_ns and precopy_skip_ns are recovered from the design's runs."""
    truth = CostModel(**TRUTH, precopy_setup_ns=700.0, precopy_skip_ns=250.0,
                      noise=NoiseModel("lognormal" if sigma else "none", sigma))
    kb = KernelBenchConfig(ks=[0, 1, 2, 4, 8, 16], region_pages=[1024, 2048], reps=1)
    traces, _, order = design(kb)
    assert [t.name for t in traces] == ["seq1024", "seq2048", "rev1024"]
    assert not any(p.thp for p, t in order if t.name.startswith("rev"))
    records = _fake(truth, 3, order)
    res = fit_kernel(records, order, trim_factor=10.0)
    p, fit = res["params"], res["fits"]["faults"]
    scale = np.exp(sigma ** 2 / 2)
    tol = 0.05 if sigma else 1e-6
    assert p["fault_ns"] + p["copy_ns"] == pytest.approx(4500.0 * scale, rel=tol)
    assert p["precopy_setup_ns"] == pytest.approx(700.0 * scale, rel=0.2 if sigma else 1e-6)
    assert p["precopy_ns"] == pytest.approx(2000.0 * scale, rel=tol)
    assert p["precopy_skip_ns"] == pytest.approx(250.0 * scale, rel=0.2 if sigma else 1e-6)
    assert p["thp_split_ns"] == pytest.approx(20000.0 * scale, rel=0.15 if sigma else 1e-6)
    assert fit["samples"]["skipped_pages"] > 0 and fit["r2"] > (0.999 if sigma == 0 else 0.8)
    # the older per-page-only model is kept as a diagnostic and fits worse
    assert res["fits"]["diagnostic_per_page_only"]["r2"] < fit["r2"]
    # without the reverse trace no window page is ever found private: skip is not identified
    kb2 = KernelBenchConfig(ks=[0, 1, 4], region_pages=[1024], reps=1, reverse=False)
    _, _, order2 = design(kb2)
    res2 = fit_kernel(_fake(truth, 3, order2), order2, 10.0)
    assert res2["params"]["precopy_skip_ns"] == 0.0
    assert any("precopy_skip_ns not identified" in n for n in res2["notes"])


@pytest.mark.parametrize("sigma", [0.0, 0.1])
def test_kernel_fit_recovers_decide_ns(sigma: float) -> None:
    """A known decide_ns (charged to the table k=0 runs only) and a known GUARDED decision
    cost (the guarded k=0 runs) are recovered, with counts and a standard error; the other
    parameters are unaffected by the table and guarded runs."""
    truth = CostModel(**TRUTH, precopy_setup_ns=700.0, precopy_skip_ns=250.0, decide_ns=300.0,
                      decide_program_ns={"guarded": 800.0},
                      noise=NoiseModel("lognormal" if sigma else "none", sigma))
    kb = KernelBenchConfig(ks=[0, 1, 2, 4, 8], region_pages=[1024, 2048], reps=2)
    traces, policies, order = design(kb)
    assert "table0" in [p.name for p in policies]
    table_runs = [(t.name, p) for p, t in order if p.name == "table0"]
    assert sorted(t for t, _ in table_runs) == ["seq1024", "seq1024_r1", "seq2048", "seq2048_r1"]
    assert all(p.static_k is None and p.kernel_program().mode == "table"
               and set(p.table) == {0} for _, p in table_runs)
    records = _fake(truth, 5, order)
    res = fit_kernel(records, order, trim_factor=10.0)
    p, d = res["params"], res["fits"]["decide"]
    scale = np.exp(sigma ** 2 / 2)
    if sigma == 0:
        assert p["decide_ns"] == pytest.approx(300.0, abs=0.05) and d["stderr_ns"] < 1e-6
    else:
        assert d["stderr_ns"] > 0
        assert abs(d["decide_ns"] - 300.0 * scale) < 4 * d["stderr_ns"] + 1.0
        assert p["decide_ns"] == pytest.approx(300.0 * scale, rel=0.25)
    assert d["n_table_runs"] == 4 and d["n_static_runs"] == 4  # baseline on the same traces
    assert d["n_table_faults"] == 2 * (1024 + 2048) == d["n_static_faults"]
    assert d["fit_indicator_coef_ns"] is not None
    assert res["fits"]["faults"]["samples"]["decided"] == d["n_table_faults"]
    g = res["fits"]["decide_program"]["guarded"]
    assert g["n_table_runs"] == 4 and g["n_table_faults"] == d["n_static_faults"]
    if sigma == 0:
        assert p["decide_program_ns"] == {"guarded": pytest.approx(800.0, abs=0.05)}
    else:
        assert abs(g["decide_ns"] - 800.0 * scale) < 4 * g["stderr_ns"] + 1.0
    tol = 0.05 if sigma else 1e-6
    assert p["fault_ns"] + p["copy_ns"] == pytest.approx(4500.0 * scale, rel=tol)
    assert p["copy_ns"] == pytest.approx(3000.0, rel=0.05)  # table runs not in the copy split
    assert p["precopy_setup_ns"] == pytest.approx(700.0 * scale, rel=0.2 if sigma else 1e-6)
    assert p["precopy_skip_ns"] == pytest.approx(250.0 * scale, rel=0.2 if sigma else 1e-6)
    # without the table runs decide_ns is not identified: 0, with a note
    kb2 = KernelBenchConfig(ks=[0, 1, 4], region_pages=[1024], reps=1, decide=False)
    _, pols2, order2 = design(kb2)
    assert "table0" not in [q.name for q in pols2]
    res2 = fit_kernel(_fake(truth, 3, order2), order2, 10.0)
    assert res2["params"]["decide_ns"] == 0.0 and res2["params"]["decide_program_ns"] == {}
    assert any("decide_ns not identified" in n for n in res2["notes"])


def _synthetic_host_raw(rng: np.random.Generator) -> dict:
    def noisy(mean: float, shape: tuple[int, ...]) -> np.ndarray:
        return mean * rng.lognormal(0.0, 0.05, size=shape) / np.exp(0.05 ** 2 / 2)

    demand = [{"n_pages": n, "fault": noisy(3000.0, (3, n)), "plain": noisy(30.0, (3, n))}
              for n in (512, 2048)]
    populate = [{"n_pages": 2048, "batch": b, "ns": noisy(800.0 + 2500.0 * b, (200,))}
                for b in (1, 4, 16, 64)]
    thp = []
    for n in (1024, 2048):
        f = noisy(3000.0, (3, n))
        f[:, ::512] += 15000.0
        thp.append({"n_pages": n, "fault": f})
    return {"demand": demand, "populate": populate, "memcpy": noisy(400.0, (4096,)),
            "thp": thp, "thp_backed": True, "want_thp": True, "thp_setting": "[madvise]",
            "timer_min_ns": 20}


def test_host_fit_recovers_synthetic_parameters() -> None:
    res = fit_host(_synthetic_host_raw(np.random.default_rng(2)), trim_factor=10.0)
    p = res["params"]
    assert p["fault_ns"] + p["copy_ns"] == pytest.approx(3000.0, rel=0.01)
    assert p["copy_ns"] == pytest.approx(2500.0, rel=0.02)
    assert p["precopy_ns"] == p["copy_ns"]
    assert p["precopy_setup_ns"] == 0.0 and p["precopy_skip_ns"] == 0.0  # need the module
    assert p["decide_ns"] == 0.0  # TABLE mode is the module's
    assert p["thp_split_ns"] == pytest.approx(15000.0, rel=0.05)
    assert p["write_ns"] == pytest.approx(30.0, rel=0.05)
    assert res["fits"]["populate_write"]["batch_means_fit"]["r2"] > 0.99


def test_fake_kernel_calibration_writes_loadable_yaml(tmp_path: Path) -> None:
    out = calibrate({"target": "kernel_sim", "name": "fake_cm", "quick": True,
                     "out_dir": str(tmp_path), "progress": False})
    path = tmp_path / "fake_cm.yaml"
    assert out["path"] == str(path) and path.is_file()
    text = path.read_text()
    assert text.startswith("# FAKE")
    cm = make_costmodel(OmegaConf.load(path))
    assert cm.name == "fake_cm"
    assert cm.provenance["source"].startswith("FAKE BACKEND")
    assert cm.provenance["calibrated"] is False
    assert cm.provenance["fits"]["faults"]["n"] > 0
    assert cm.provenance == out["provenance"]  # provenance round-trips through the YAML
    for f in ("fault_ns", "copy_ns", "precopy_ns", "write_ns", "precopy_setup_ns",
              "precopy_skip_ns", "decide_ns"):
        assert getattr(cm, f) == pytest.approx(out["params"][f])
    assert "precopy_skip_ns" in cm.provenance["identification"]
    assert "decide_ns" in cm.provenance["identification"]
    assert "table0" in cm.provenance["design"]["policies"]
    assert cm.provenance["fits"]["decide"]["n_table_faults"] > 0


@pytest.mark.parametrize("name", ["host", "tcg"])
def test_shipped_calibrations_load_by_name(name: str) -> None:
    cm = make_costmodel(name)
    p = cm.provenance
    assert cm.name == name and p["calibrated"] is True
    for key in ("kernel", "cpu_model", "runner", "accelerator", "date", "fits", "load_note"):
        assert key in p, key
    assert 200 <= cm.fault_ns + cm.copy_ns <= 1e6
    assert cm.noise.kind == "none" and cm.noise.sigma > 0


@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler")
def test_host_calibration_quick_runs_here(tmp_path: Path) -> None:
    t0 = time.monotonic()
    out = calibrate({"target": "host", "name": "quickhost", "quick": True,
                     "out_dir": str(tmp_path), "progress": False})
    assert time.monotonic() - t0 < 30
    p = out["params"]
    assert 200 <= p["fault_ns"] + p["copy_ns"] <= 1e6
    assert p["copy_ns"] > 0 and p["precopy_ns"] > 0 and p["write_ns"] > 0
    assert p["write_ns"] < p["fault_ns"] + p["copy_ns"]
    prov = make_costmodel(OmegaConf.load(tmp_path / "quickhost.yaml")).provenance
    assert prov["accelerator"] == "native" and prov["quick"] is True
    assert prov["fits"]["demand"]["n"] > 100


@pytest.mark.parametrize("cfg, field", [
    ({"target": "moon"}, "target"),
    ({"target": {"_target_": "cowrl.targets.sim.Nope"}}, "target._target_"),
    ({"target": {"_target_": "cowrl.targets.simulated.SimulatedKernel", "colour": 1}},
     "target.colour"),
    ({"target": {"_target_": "cowrl.targets.simulated.SimulatedKernel", "sigma": -1}},
     "target.sigma"),
    ({"target": "kernel", "kernel": {"runner": "moon"}}, "kernel.runner"),
    ({"target": "host", "host_bench": {"reps": -1}}, "host_bench.reps"),
    ({"target": "host", "host_bench": {"populate_batches": [4]}}, "host_bench.populate_batches"),
    ({"target": "host", "host_bench": {"thp": "maybe"}}, "host_bench.thp"),
    ({"target": "host", "host_bench": {"colour": 1}}, "host_bench.colour"),
    ({"target": "kernel", "kernel_bench": {"ks": [2]}}, "kernel_bench.ks"),
    ({"target": "kernel", "kernel_bench": {"backend": "fake"}}, "kernel_bench.backend"),
    ({"target": "kernel", "kernel_bench": {"reverse": "yes"}}, "kernel_bench.reverse"),
    ({"target": "kernel", "kernel_bench": {"decide": "yes"}}, "kernel_bench.decide"),
    ({"target": "kernel", "kernel_bench": {"ks": [1, 2]}}, "kernel_bench.decide"),
    ({"target": "host", "name": "../evil"}, "name"),
    ({"target": "host", "trim_factor": -1}, "trim_factor"),
    ({"target": "host", "seed": "abc"}, "seed"),
    ({"target": "host", "seed": True}, "seed"),
    ({"target": "kernel_sim", "seed": -1}, "seed"),
])
def test_bad_config_is_one_line_naming_the_field(cfg: dict, field: str) -> None:
    with pytest.raises(ConfigError) as e:
        CalibrationConfig.from_cfg(cfg)
    msg = str(e.value)
    assert field in msg and "\n" not in msg


def test_a_negative_seed_is_refused_before_the_run() -> None:
    """seed=-1 was accepted, then numpy's default_rng refused it after the runs (a traceback
    from the kernel_sim target); now one line, as eval.py says it."""
    with pytest.raises(ConfigError) as e:
        CalibrationConfig.from_cfg({"target": "kernel_sim", "seed": -1})
    assert str(e.value) == "seed must be an integer >= 0, got -1"
    assert CalibrationConfig.from_cfg({"target": "kernel_sim"}).seed == 0


def test_quick_keeps_the_bench_values_the_user_sets(compose_cfg) -> None:
    """quick=true replaces the host_bench/kernel_bench values left at their defaults, not
    the ones given on the command line (docs/calibration.md)."""
    cc = CalibrationConfig.from_cfg(compose_cfg("calibrate", [
        "target=host", "quick=true", "host_bench.reps=3", "host_bench.region_pages=[512,2048]",
        "kernel_bench.ks=[0,2,8]"]))
    assert cc.host_bench.reps == 3 and cc.host_bench.region_pages == [512, 2048]
    assert cc.kernel_bench.ks == [0, 2, 8]
    # the rest is quick's
    assert cc.host_bench.populate_batches == QUICK_HOST["populate_batches"]
    assert cc.host_bench.memcpy_pages == QUICK_HOST["memcpy_pages"]
    assert cc.kernel_bench.reps == QUICK_KERNEL["reps"]
    assert cc.kernel_bench.region_pages == QUICK_KERNEL["region_pages"]
    # A value is the user's when it differs from the schema's default: conf/calibrate.yaml
    # must ship exactly those defaults.
    conf = OmegaConf.load(ROOT / "conf" / "calibrate.yaml")
    for key, cls in (("host_bench", HostBenchConfig), ("kernel_bench", KernelBenchConfig)):
        assert OmegaConf.to_container(conf[key]) == dataclasses.asdict(cls()), key


def test_cli_bad_value_exits_with_one_line(python: str, tmp_path: Path) -> None:
    r = subprocess.run([python, str(ROOT / "calibrate.py"), "target=host", "host_bench.reps=0",
                        f"hydra.run.dir={tmp_path}"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "host_bench.reps" in lines[0]


@pytest.mark.kernel
def test_kernel_calibration_quick_real_boot(tmp_path: Path) -> None:
    """One short guest boot: the fit has every parameter and sane TCG magnitudes."""
    out = calibrate({"target": "kernel", "name": "tcgq", "quick": True,
                     "out_dir": str(tmp_path), "progress": False})
    p, prov = out["params"], out["provenance"]
    assert prov["calibrated"] is True and prov["accelerator"] in ("tcg", "kvm")
    assert prov["fits"]["runs_used"] == prov["fits"]["runs_total"]  # counts equal the sim's
    assert 1e3 <= p["fault_ns"] + p["copy_ns"] <= 1e7
    assert p["precopy_ns"] > 0
    d = prov["fits"]["decide"]  # table k=0 runs vs static k=0: the run-time decision
    assert d["n_table_faults"] > 0 and d["n_static_faults"] > 0 and p["decide_ns"] >= 0
    assert d.get("module_decisions", 0) > 0


def test_calibrate_takes_a_target(tmp_path: Path) -> None:
    """calibrate(cfg, target): the design runs on the given target; a noiseless stand-in
    priced by known parameters gives them back, and the file says it is no measurement."""
    truth = CostModel(**TRUTH, precopy_setup_ns=700.0, precopy_skip_ns=250.0, decide_ns=300.0,
                      name="truth")
    target = SimulatedKernel(truth=truth, sigma=0.0, name="standin")
    out = calibrate({"target": "kernel_sim", "quick": True, "out_dir": str(tmp_path),
                     "progress": False}, target=target)
    p = out["params"]
    assert out["path"] == str(tmp_path / "standin.yaml")  # the target's calibration_name
    assert p["fault_ns"] + p["copy_ns"] == pytest.approx(4500.0, rel=1e-6)
    assert p["precopy_ns"] == pytest.approx(2000.0, rel=1e-6)
    assert p["precopy_setup_ns"] == pytest.approx(700.0, rel=1e-6)
    assert p["precopy_skip_ns"] == pytest.approx(250.0, rel=1e-6)
    assert p["decide_ns"] == pytest.approx(300.0, abs=0.05)
    assert p["decide_program_ns"]["guarded"] == pytest.approx(300.0, abs=0.05)  # priced alike
    written = yaml.safe_load(Path(out["path"]).read_text())
    assert written["decide_program_ns"]["guarded"] == pytest.approx(300.0, abs=0.05)
    assert out["provenance"]["calibrated"] is False
    assert out["provenance"]["design"]["kernel_config"]["target"] == "standin"


def test_unwritable_out_dir_fails_before_measuring() -> None:
    """It failed with a traceback after the measurement (minutes on the kernel target)."""

    class Never:
        def calibrate(self, cc: object) -> None:
            raise AssertionError("measured before out_dir was checked")

    with pytest.raises(ConfigError, match="out_dir: cannot create /proc/nope"):
        calibrate({"target": "host", "out_dir": "/proc/nope"}, target=Never())


def test_the_hint_after_writing_names_what_loads_the_file(tmp_path: Path, capsys,
                                                          monkeypatch) -> None:
    """``out_dir`` outside conf/costmodel: the last line said "use it with costmodel=NAME",
    which then failed as an unknown costmodel (session 44, walking README as a user)."""
    import cowrl.calibration.run as run

    truth = CostModel(**TRUTH, name="truth")
    cfg = {"target": "kernel_sim", "quick": True, "progress": False, "name": "mine"}
    calibrate({**cfg, "out_dir": str(tmp_path / "elsewhere")},
              target=SimulatedKernel(truth=truth, sigma=0.0, name="standin"))
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert "use it with costmodel=mine" not in last, last
    assert "not in conf/costmodel" in last and "costmodel=mine" in last, last
    conf = tmp_path / "conf"
    monkeypatch.setattr(run, "CONF_DIR", conf)
    calibrate({**cfg, "out_dir": str(conf / "costmodel")},
              target=SimulatedKernel(truth=truth, sigma=0.0, name="standin"))
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.endswith("(use it with costmodel=mine)"), last
