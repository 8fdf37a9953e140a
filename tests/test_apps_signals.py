"""experiments/apps_signals.py: its replays agree with the engine, its bounds hold."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import load_experiment

from cowrl.metrics import objective
from cowrl.policies.oracle import DegreeSequence, lookahead_degrees
from cowrl.policies.static import StaticPrecopy
from cowrl.registry import make_costmodel
from cowrl.sim.simulator import simulate
from cowrl.traces.generators import sequential, sparse, uniform, zipf
from cowrl.traces.io import Trace


@pytest.fixture(scope="module")
def aps():
    return load_experiment("apps_signals")


def multi_region() -> Trace:
    """Three regions at unaligned addresses, random order with pairs (p, p+1)."""
    rng = np.random.default_rng(3)
    sizes = np.array([37, 300, 129])
    first = rng.choice(466, 200, replace=False)
    pages = np.concatenate([first, np.minimum(first + 1, 465)])
    rng.shuffle(pages)
    return Trace(pages=pages, n_pages=466, name="multi", region_sizes=sizes,
                 region_starts=np.array([0x10002000, 0x20005000, 0x3000F000], dtype=np.uint64))


def pools(groups: int, per_group: int, seed: int) -> Trace:
    """Aligned 4-page groups in random order, ``per_group`` of each group's pages written."""
    rng = np.random.default_rng(seed)
    out = [4 * g + rng.permutation(4)[:per_group] for g in rng.permutation(groups)]
    return Trace(pages=np.concatenate(out), n_pages=4 * groups, name="pools")


@pytest.mark.parametrize("cname", ["seed_table1", "host"])
@pytest.mark.parametrize("k", [1, 8])
def test_static_rule_equals_engine(aps, cname, k):
    cost = make_costmodel(cname)
    for t in (multi_region(), uniform(n_pages=512, writes=700, seed=1)):
        rec = simulate(t, StaticPrecopy(k), cost)
        want = objective(rec, 1.0, cost.page_cost_ns) / (cost.demand_ns * np.unique(t.pages).size)
        got = aps.run_rule(t, f"always:fwd{k}", cost, 1.0)
        assert got["ratio"] == pytest.approx(want, rel=1e-12)
        assert (got["faults"], got["copied"], got["wasted"]) == (rec.faults, rec.precopied,
                                                                 rec.wasted)


def test_oracle_rows_sum_to_the_lookahead_gain(aps):
    cost = make_costmodel("seed_table1")
    t = multi_region()
    _, rg = aps.oracle_rows(t, cost, 1.0)
    rec = simulate(t, DegreeSequence(lookahead_degrees(t, cost, 1.0), "la", {}), cost)
    base = cost.demand_ns * np.unique(t.pages).size
    assert rg.sum() == pytest.approx(1 - objective(rec, 1.0, cost.page_cost_ns) / base)
    assert rg.sum() > 0.05  # the pairs are there to be found


def test_geometry_aligns_blocks_on_addresses(aps):
    t = multi_region()
    rlo, rhi, blo, bhi = aps.geometry(t, 64)
    # region 0 starts at vpn 0x10002 (2 mod 64): its first block is clipped to 62 pages
    assert (blo[0], bhi[0]) == (0, 37)
    # region 1 starts at vpn 0x20005 (5 mod 64): page 37 + 59 starts a block
    assert (blo[37], bhi[37]) == (37, 37 + 59)
    assert (blo[37 + 59], bhi[37 + 59]) == (37 + 59, 37 + 59 + 64)
    assert (rlo[40], rhi[40]) == (37, 337)


def test_features_on_a_sequential_write(aps):
    f, u, w = aps.baseline_features(sequential(n_pages=128), 64)
    fwd1 = aps.ACTIONS.index("fwd1")
    assert u[:-1, fwd1].tolist() == [1] * 127 and w[:, fwd1].sum() == 0
    assert f["blk"][:64].tolist() == list(range(64)) and f["rel"][1:].min() == 1


@pytest.mark.parametrize("rule", ["proof:0,0,8,10", "proof:8,0,8,10,1", "proof:0,0,4,10,0,4/64",
                                  "sent:1,0,10"])
def test_budgeted_rules_lose_at_most_the_allowance(aps, rule):
    # losses are financed by the allowance (1% of a demand fault per evidence fault) only
    copied = 0
    for cname in ("seed_table1", "host"):
        cost = make_costmodel(cname)
        for t in (uniform(n_pages=2048, writes=3000, seed=2), zipf(n_pages=2048, seed=3),
                  sparse(n_pages=4096, touched=200, seed=4)):
            for block in (4, 64):
                got = aps.run_rule(t, rule, cost, 1.0, block)
                assert got["ratio"] <= 1.01 + 1e-9
                copied += got["copied"]
    assert copied > 0  # the rule copies (and loses) somewhere: the bound is not vacuous


def test_group_proof_pays_on_whole_pools_only(aps):
    cost = make_costmodel("seed_table1")
    whole = aps.run_rule(pools(512, 4, 5), "proof:0,0,8,10", cost, 1.0, 4)
    assert whole["ratio"] < 0.85 and whole["wasted"] == 0
    one = aps.run_rule(pools(512, 1, 6), "proof:0,0,8,10", cost, 1.0, 4)
    assert 1.0 <= one["ratio"] <= 1.01
