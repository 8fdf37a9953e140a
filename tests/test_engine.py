"""The replay engine against the plain reference (tests/sim_reference.py), its session API,
multi-region traces, and compiled programs == the same policy asked fault by fault."""

from __future__ import annotations

import numpy as np
import pytest
from sim_reference import replay

from cowrl.policies.context import N_CELLS
from cowrl.policies.readahead import Readahead
from cowrl.policies.static import StaticPrecopy
from cowrl.policies.table import TablePolicy
from cowrl.sim.costmodel import CopyWholeHuge, CostModel
from cowrl.sim.engine import ReplayEngine
from cowrl.sim.simulator import simulate
from cowrl.traces.generators import GENERATORS
from cowrl.traces.io import Trace

CM = CostModel(fault_ns=1000.0, copy_ns=700.0, precopy_ns=150.0, thp_split_ns=5000.0,
               precopy_setup_ns=90.0, precopy_skip_ns=11.0, decide_ns=37.0)


def traces(seed: int = 4) -> list[Trace]:
    out = []
    for g, fn in GENERATORS.items():
        kw = {"n_pages": 1100, "writes": 2500, "seed": seed}
        if g == "sparse":
            kw = {"n_pages": 1100, "touched": 60, "seed": seed}
        t = fn(**kw)
        out.append(t)
        # the same writes over three regions (boundaries inside the written range)
        out.append(Trace(pages=t.pages, n_pages=t.n_pages, name=t.name + "-3r",
                         region_sizes=np.array([300, 513, t.n_pages - 813])))
        # ... at recorded addresses: region 1 (vpn 511..1024) holds one aligned 2 MiB,
        # pages 301..812, the others none (huge pages are aligned in virtual pages)
        out.append(Trace(pages=t.pages, n_pages=t.n_pages, name=t.name + "-3rv",
                         region_sizes=np.array([300, 513, t.n_pages - 813]),
                         region_starts=np.array([0, 511, 4096], dtype=np.uint64) * 4096))
    return out


@pytest.mark.parametrize("thp", [False, True])
@pytest.mark.parametrize("whole", [False, True])
def test_engine_session_equals_reference(thp: bool, whole: bool) -> None:
    cm = CostModel(**{**CM.__dict__, "thp_model": CopyWholeHuge()}) if whole else CM
    rng = np.random.default_rng(0)
    for t in traces():
        ref_ks = rng.choice([0, 1, 3, 16, 64], t.writes).tolist()
        ref = replay(t, ref_ks, cm, thp=thp, decided=1)
        eng = ReplayEngine(cm, thp=thp, decided=True)
        ctx = eng.reset(t)
        got = []
        while ctx is not None:
            assert ctx.fault_index == len(got)
            ev = eng.apply(ref_ks[len(got)])
            assert ev.page == ctx.page and ev.write_index == ctx.write_index
            got.append(ev)
            ctx = eng.context
        assert [e.page for e in got] == ref.page.tolist(), t.name
        assert [e.precopied for e in got] == ref.precopied_each.tolist(), t.name
        assert [e.window for e in got] == ref.window.tolist(), t.name
        assert [e.skipped for e in got] == ref.skipped.tolist(), t.name
        assert [e.thp_first for e in got] == ref.thp_first.tolist(), t.name
        assert [e.fault_ns for e in got] == ref.fault_ns.tolist(), t.name
        assert sum(e.wasted for e in got) == ref.wasted, t.name
        assert [e.precopy_ns for e in got] == [
            cm.fault_cost(e.precopied, e.thp_first, e.work, e.skipped, 1)
            - cm.fault_cost(0, e.thp_first, 0, 0, 1) for e in got], t.name
        assert eng.totals() == {"faults": ref.faults, "precopied": ref.precopied,
                                "wasted": ref.wasted}


@pytest.mark.parametrize("k", [0, 1, 5, 64])
def test_static_program_equals_reference(k: int) -> None:
    for t in traces(seed=9):
        rec = simulate(t, StaticPrecopy(k), CM)
        ref = replay(t, k, CM)
        assert (rec.faults, rec.precopied, rec.wasted) == (ref.faults, ref.precopied,
                                                           ref.wasted), t.name
        assert rec.fault_ns.tolist() == ref.fault_ns.tolist(), t.name


def test_window_clips_at_the_faulting_pages_region_end() -> None:
    # regions [0, 4) and [4, 10): a fault at 2 with k=5 walks 3 only; at 4, 5..9.
    t = Trace(pages=np.array([2, 3, 4, 9]), n_pages=10, name="two",
              region_sizes=np.array([4, 6]))
    rec, ev = simulate(t, StaticPrecopy(5), CM, record_events=True)
    assert ev.page.tolist() == [2, 4] and ev.window.tolist() == [1, 5]
    assert ev.precopied.tolist() == [1, 5] and rec.wasted == 4  # 5, 6, 7, 8
    one = Trace(pages=t.pages, n_pages=10, name="one")
    ev1 = simulate(one, StaticPrecopy(5), CM, record_events=True)[1]
    assert ev1.page.tolist() == [2, 9] and ev1.window.tolist() == [5, 0]  # 3..7, then the end


def _policies() -> list:
    rng = np.random.default_rng(3)
    deg = [0, 1, 2, 4, 8, 16, 32, 64]
    return [TablePolicy(rng.choice(deg, N_CELLS).tolist()),
            TablePolicy(rng.choice(deg, N_CELLS).tolist(), context={"slots": 1, "near": 3}),
            Readahead(), Readahead(max_k=8, context={"slots": 2, "near": 4})]


def test_compiled_program_equals_policy_asked_per_fault() -> None:
    for t in traces(seed=5):
        for p in _policies():
            fast, ev_f = simulate(t, p, CM, record_events=True, seed=1)
            slow, ev_s = simulate(t, p, CM, record_events=True, seed=1, fast=False)
            assert (fast.faults, fast.precopied, fast.wasted) == \
                (slow.faults, slow.precopied, slow.wasted)
            assert np.array_equal(fast.fault_ns, slow.fault_ns)
            for a, b in zip(ev_f.__dict__.values(), ev_s.__dict__.values(), strict=True):
                assert np.array_equal(a, b), (t.name, p.name)


def test_apply_after_the_end_and_negative_degree_raise() -> None:
    eng = ReplayEngine(CM)
    eng.reset(Trace(pages=np.array([0]), n_pages=2))
    with pytest.raises(ValueError, match="negative"):
        eng.apply(-1)
    eng.apply(1)
    assert eng.context is None and eng.done
    with pytest.raises(RuntimeError, match="reset"):
        eng.apply(0)


def test_numba_cache_stamp_covers_every_file_the_replay_inlines(tmp_path, monkeypatch) -> None:
    from cowrl.envs import vector
    from cowrl.sim import _jit_cache, engine

    for fn in (engine.replay, vector._vec_step):
        assert isinstance(fn._cache._impl.locator, _jit_cache._PackageStampLocator)
    (tmp_path / "a.py").write_text("x = 1\n")
    monkeypatch.setattr(_jit_cache, "_WATCHED", (tmp_path,))
    stamp = engine.replay._cache._impl.locator.get_source_stamp()
    (tmp_path / "a.py").write_text("x = 2\n")  # an edit elsewhere than engine.py
    assert engine.replay._cache._impl.locator.get_source_stamp() != stamp


def test_cow_objective_is_the_objective_without_per_fault_arrays() -> None:
    from cowrl.metrics import objective
    from cowrl.policies.static import HugePage
    from cowrl.sim.simulator import cow_objective

    noisy = CostModel(**{**CM.__dict__, "noise": {"kind": "lognormal", "sigma": 0.5}})
    for t in traces(seed=2)[:6]:
        for p in (StaticPrecopy(0), StaticPrecopy(8), HugePage(), Readahead()):
            for cm, seed in ((CM, None), (noisy, 5)):
                want = objective(simulate(t, p, cm, seed=seed), 0.7, cm.page_cost_ns)
                assert cow_objective(t, p, cm, 0.7, seed=seed) == pytest.approx(want, rel=1e-12)
