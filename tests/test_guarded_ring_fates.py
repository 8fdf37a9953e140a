"""Where guarded's copies go (docs/policies.md, "Late proofs and a larger proof ring"):
``GuardedContext.overwritten`` (a diagnostic, no decision reads it) and
experiments/guarded_use.py's ``Probe`` fates with ``late_writes``, which
experiments/guarded_ttl.py ``--fates`` prints."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import load_experiment

from cowrl.policies.guarded import N_CELLS, GuardedPolicy, shipped_options
from cowrl.registry import make_costmodel, make_policy
from cowrl.sim.simulator import simulate
from cowrl.traces import generators as g
from cowrl.traces.io import Trace


@pytest.fixture(scope="module")
def use():
    return load_experiment("guarded_use")


def _stride2(n: int = 1 << 16) -> Trace:
    return Trace(pages=np.arange(0, n, 2), n_pages=n, name="stride2")


@pytest.mark.parametrize("ttl", [0, 16])
def test_every_copy_is_proven_expired_overwritten_or_left_in_the_ring(ttl: int) -> None:
    """The copies a run makes are the entries proven, expired, overwritten unproven and still
    live at the end: the counter is where the ring wraps, and nowhere else (a stride-2 writer
    never writes its copies: without a ttl its ring must wrap, with one they may expire)."""
    cost = make_costmodel("seed_table1")
    for t, table, walk in ((_stride2(), [1] * N_CELLS, 0),
                           (g.randomized(2000, 0, families="tiled2d"), None, None)):
        # the stride-2 writer's walk unpaid: else its unproven entries drain the budget; no
        # floor (shipped 128): the ring must fill for its counters to be tested; adjacent
        # windows (guarded_adjacent's options): a strided window would copy what it writes
        kw = {**shipped_options("guarded_adjacent"), "proof_ttl": ttl, "grant_left": 0,
              "floor": 0,
              **({} if walk is None else {"walk_ns": walk, "walk_empty_ns": walk})}
        pol = GuardedPolicy.for_cost(cost, table=table or make_policy("guarded").table, **kw)
        rec = simulate(t, pol, pol.priced(cost), fast=False)
        c = pol.ctx
        assert rec.precopied == c.proven + c.expired + c.overwritten + c.proof_live
        assert c.overwritten > 0 or (ttl and c.expired > 0), (t.name, ttl)
        assert c.proof_live == sum(1 for v in c.proof_page if v)


def test_late_writes_match_a_scan_of_the_trace(use) -> None:
    """``Probe``'s fates agree with the context's counters, and ``late_writes`` gives each copy
    not proven the next write of its page, the faults and the ring entries made between, as a
    plain scan of the trace does (the second development draw of tiled2d: some copies are
    written only after their entry was overwritten)."""
    cost = make_costmodel("seed_table1")
    t = g.randomized(2001, 0, families="tiled2d")
    pol = use.Probe.for_cost(cost, table=make_policy("guarded").table, **shipped_options())
    simulate(t, pol, pol.priced(cost), fast=False)
    pol.finish()
    n = {f: sum(v for (_, w), v in pol.fate.items() if w == f)
         for f in ("proven", "expired", "overwritten", "in ring")}
    c = pol.ctx
    assert (n["proven"], n["expired"], n["overwritten"], n["in ring"]) == (
        c.proven, c.expired, c.overwritten, c.proof_live)
    lw = use.late_writes(t, pol)
    recs = [r for f in ("expired", "overwritten", "in ring") for cls in use.CLS
            for r in pol.fate_recs.get((cls, f), [])]
    assert lw["fate"].size == len(recs) > 0
    pages, fwi = np.asarray(t.pages), np.asarray(pol.fault_wi)
    late = 0
    for j, (page, cf, cwi, cseq, left) in enumerate(recs):
        after = np.flatnonzero(pages[cwi + 1:] == page)
        assert lw["written"][j] == (after.size > 0)
        if not after.size:
            assert lw["faults"][j] == lw["copies"][j] == -1
            continue
        w2 = cwi + 1 + int(after[0])
        before = np.flatnonzero(fwi < w2)  # the faults before that write
        assert lw["faults"][j] == before[-1] - cf
        assert lw["copies"][j] == pol.fault_copies[before[-1]] - cseq
        if lw["fate"][j] < 2:
            assert lw["in_time"][j] == (w2 < fwi[left])
            late += int(w2 > fwi[left])
    assert late > 0  # the draw has late proofs: the test can tell them from the rest
