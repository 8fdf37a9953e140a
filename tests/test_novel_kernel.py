"""experiments/novel_kernel.py (measured runs beside the simulator) and novel_patterns.py's
``--save``: saved traces load back as built, the simulator's rows are rebuilt from an eval.py
run's own config, and the comparison flags hand-made count, tally and bound misses."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import load_experiment

from cowrl.errors import ConfigError
from cowrl.traces.io import load_trace


@pytest.fixture(scope="module")
def nk():
    return load_experiment("novel_kernel")


@pytest.fixture(scope="module")
def nov():
    return load_experiment("novel_patterns")


def test_save_writes_traces_that_load_back_as_built(nov, tmp_path: Path, capsys) -> None:
    out = tmp_path / "traces"
    got = nov.audit(["--patterns", "lockstep_regions,fiber_stacks,zorder_rows", "--draws", "2",
                     "--n-pages", "512", "--save", str(out)])
    assert got == {}  # nothing measured
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(f"{n}_{d}.npz" for n in ("lockstep_regions", "fiber_stacks",
                                                    "zorder_rows") for d in (0, 1))
    for n in ("lockstep_regions", "fiber_stacks", "zorder_rows"):
        for d in (0, 1):
            t, back = nov.build(n, d, 512), load_trace(out / f"{n}_{d}.npz")
            assert back.name == t.name and back.n_pages == t.n_pages
            assert np.array_equal(back.pages, t.pages)
            if t.region_sizes is None:
                assert back.region_sizes is None
            else:  # several regions (2-6 for lockstep_regions, 16-256 for fiber_stacks)
                assert np.array_equal(back.region_sizes, t.region_sizes)
                assert len(back.region_sizes) >= 2
    assert "regions" in capsys.readouterr().out
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="--save"):
        nov.audit(["--patterns", "sawtooth", "--draws", "1", "--save", str(tmp_path / "file")])


def _row(w: str, p: str, obj: float, faults: int, pre: int = 0, wasted: int = 0,
         skipped: int = 0, **kw: int) -> dict:
    return {"workload": w, "policy": p, "objective": obj, "faults": faults, "precopied": pre,
            "wasted": wasted, "precopy_skipped": skipped, **kw}


def test_compare_flags_counts_tallies_and_the_bound(nk) -> None:
    from cowrl.sim.programs import GUARD_TALLY_KEYS

    tal = {f"guard_{k}": 0 for k in GUARD_TALLY_KEYS}
    kern = [_row("t", "baseline", 1000.0, 10),
            _row("t", "guarded", 1070.0, 8, 2, 1, 3, **{**tal, "guard_asked": 5}),
            _row("t", "shield64", 1064.0, 8, 2, 1, 3, **tal),
            _row("t", "guarded0", 1060.0, 10, **tal),
            _row("t", "readahead", 1500.0, 9, 1, 1)]
    sim = [{**r, "objective": 1000.0} for r in kern]
    for r in sim:
        r["skipped"] = r.pop("precopy_skipped")
    sim[1] = {**sim[1], "faults": 9, "guard_asked": 6}  # the kernel's 8 faults, 5 asks differ
    checks = nk.compare(kern, sim, {"guarded": 5.0, "shield64": 5.0, "guarded0": 5.0,
                                    "readahead": 1.0}, tolerance=0.005)
    by = {c.policy: c for c in checks}
    assert by["guarded"].counts_same is False and by["guarded"].tallies_same is False
    assert by["guarded"].mismatch() == "faults 8 (sim 9), guard_asked 5 (sim 6)"
    # bound: modelled (1000 + 5 ns x 10 faults) / 1000 = 1.05, measured guarded0 1.06
    assert by["guarded"].bound_modelled == pytest.approx(1.05)
    assert by["guarded"].bound_measured == pytest.approx(1.06)
    assert by["guarded"].over  # 1.070 > 1.06 + 0.005
    assert not by["shield64"].over and by["shield64"].mismatch() == ""  # 1.064 <= 1.065
    assert by["shield64"].counts_same and by["shield64"].tallies_same
    assert by["baseline"].tallies_same is None  # no tallies on either side: "-"
    assert not by["readahead"].over  # no budget: its bound is shown, never flagged
    assert by["readahead"].bound_modelled == pytest.approx(1.01)
    lines = nk.totals(checks)
    assert lines[0] == ("counts = sim: 4/5; tallies = sim: 2/3; "
                        "guarded/shield64 over the bound: 1/2")
    assert lines[1] == "- MISMATCH t guarded: faults 8 (sim 9), guard_asked 5 (sim 6)"
    assert lines[2].startswith("- OVER t guarded: 1.0700 > bound 1.050 / 1.060")
    # an inert budgeted policy (not deciding under the run's prices) is held to baseline
    inert = nk.compare(kern[:1] + [_row("t", "shield64", 1006.0, 10)],
                       [{**kern[0], "skipped": 0}, {**_row("t", "shield64", 1000.0, 10),
                                                    "skipped": 0}], {})
    assert inert[1].bound_modelled == 1.0 and inert[1].over  # 1.006 > 1.0 + 0.005
    with pytest.raises(ConfigError, match="baseline"):
        nk.compare(kern[1:], sim, {})


def test_simulate_rows_rebuild_an_eval_run(nk, nov, compose_cfg, tmp_path: Path) -> None:
    """The simulator's rows from a run's own results.json equal eval.py's target=sim rows of
    the same config (so a kernel run is compared with what eval.py would simulate)."""
    from cowrl.evaluate import evaluate

    nov.audit(["--patterns", "mmap_buffers", "--draws", "1", "--n-pages", "300", "--save",
               str(tmp_path / "tr")])
    f = tmp_path / "tr" / "mmap_buffers_0.npz"
    cfg = compose_cfg("eval", ["target=sim", "costmodel=seed_table1", f"traces=[{f}]",
                               "workloads=[]", "policies=[baseline,guarded,shield64]",
                               f"out={tmp_path / 'run'}", "plots=false", "progress=false",
                               "report=false"])
    evaluate(cfg)
    rows, meta = nk.load_run(tmp_path / "run")
    sim, decide = nk.simulate_rows(rows, meta)
    assert set(decide) == {"guarded", "shield64"}  # seed_table1: both decide, price 0
    for r, s in zip(rows, sim, strict=True):
        assert (r["policy"], r["faults"], r["precopied"], r["wasted"]) == \
            (s["policy"], s["faults"], s["precopied"], s["wasted"])
        assert r["objective"] == pytest.approx(s["objective"])
    assert sum(s["precopied"] for s in sim) > 0  # the sequential buffers open windows
    with pytest.raises(ConfigError, match="results.json"):
        nk.load_run(tmp_path / "tr")
