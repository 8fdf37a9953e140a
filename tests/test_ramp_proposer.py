"""The ramp proposer (cowrl/policies/ramp.py): its proposal follows its rule, the shield caps
it, and the loss over k = 0 stays bounded by the allowances granted."""

from __future__ import annotations

import pytest
from test_guarded_proof import _bound_traces

from cowrl.errors import ConfigError
from cowrl.metrics import objective
from cowrl.policies.base import FaultContext
from cowrl.policies.guarded import N_CELLS, GuardedPolicy, shipped_options
from cowrl.policies.ramp import ProofSizePolicy, RampPolicy
from cowrl.registry import make_costmodel
from cowrl.sim.simulator import simulate
from cowrl.traces import generators as g


def test_the_window_doubles_on_a_hit_and_halves_on_a_miss() -> None:
    pol = RampPolicy()
    assert pol.proposal(0, 0) == pol.proposal(0, 1) == 1  # starts at 1
    for want in (2, 4, 8, 16, 32, 64, 64):  # doubles, cap 64
        pol.outcome(0, 1, True)
        assert pol.proposal(0, 1) == want
    assert pol.proposal(0, 0) == 1 and pol.proposal(5, 1) == 1  # per class, per region
    for want in (32, 16, 8, 4, 2, 1, 1):  # halves, floor 1
        pol.outcome(0, 1, False)
        assert pol.proposal(0, 1) == want


def test_zero_after_m_misses_and_the_relative_variant() -> None:
    pol = RampPolicy(zero_after=3)
    pol.outcome(0, 0, True)
    for want in (1, 1, 0, 0):  # 0 from the 3rd miss in a row on
        pol.outcome(0, 0, False)
        assert pol.proposal(0, 0) == want
    pol.outcome(0, 0, True)
    assert pol.proposal(0, 0) == 1  # a hit brings it back
    rel = RampPolicy(relative=True)
    for copied, want in ((0, 1), (1, 2), (3, 6), (40, 64)):  # twice the hit window's copies
        rel.outcome(0, 0, True, copied)
        assert rel.proposal(0, 0) == want
    with pytest.raises(ConfigError, match="zero_after"):
        RampPolicy(zero_after=-1)


def test_the_proposal_is_the_ramp_and_the_shield_caps_it() -> None:
    """On a sequential writer the ramp's proposal at each fault is its class's window, as the
    sentinel outcomes so far made it (replayed here from the shield's own hit/miss counts),
    and the degree applied never exceeds it."""
    cost = make_costmodel("host")
    pol = RampPolicy.for_cost(cost, **shipped_options())
    asked: list[tuple[int, int]] = []
    act = pol.act

    def logged(c, ctx: FaultContext, want: int | None = None) -> int:  # type: ignore[no-untyped-def]
        k = act(c, ctx, want)
        assert want is not None
        asked.append((want, k))
        return k

    pol.act = logged  # type: ignore[method-assign]
    t = g.sequential(n_pages=8192, writes=8192)
    simulate(t, pol, pol.priced(cost), fast=False)
    assert asked and all(0 <= k <= w for w, k in asked)
    assert max(w for w, _ in asked) == 64 and any(0 < k for _, k in asked)
    # a sequential writer's sentinels are all hit: the stream class ramps 1, 2, 4, ...
    assert pol.ctx.hits[0] > 0 and pol.windows[0][0] == 64


def test_proofsize_sizes_a_window_from_its_proofs() -> None:
    """mode window: a resolved window sets w to twice its degree if its last copied page was
    proven, else to its furthest proven offset, else halves it; nothing moves before every
    copied page has left the ring."""
    pol = ProofSizePolicy(**shipped_options())
    assert pol.proposal(0, 0) == pol.proposal(3, 1) == 64  # starts at MAX_K
    # [region, cls, pages left in the ring, furthest proven, last copied offset, copied, k,
    # fault number at the copy]
    win = [0, 1, 3, 0, 4, 3, 4, 0]
    pol.left_ring(win, 1, True)
    pol.left_ring(win, 2, True)
    assert pol.proposal(0, 1) == 64  # unresolved: unchanged
    pol.left_ring(win, 4, False)
    assert pol.proposal(0, 1) == 2 and pol.proposal(0, 0) == 64  # furthest proven, per class
    pol.left_ring([0, 1, 1, 0, 1, 1, 1, 0], 1, True)
    assert pol.proposal(0, 1) == 2  # its last page proven: twice its degree 1
    win2 = [0, 1, 2, 0, 8, 2, 8, 0]
    pol.left_ring(win2, 8, True)
    assert pol.proposal(0, 1) == 2
    pol.left_ring(win2, 3, False)
    assert pol.proposal(0, 1) == 16
    pol.left_ring([0, 1, 1, 0, 64, 1, 64, 0], 64, True)
    assert pol.proposal(0, 1) == 64  # cap
    for want in (32, 16, 8, 4, 2, 1, 1):  # nothing proven: halves, floor 1
        pol.left_ring([0, 1, 1, 0, 2, 1, 2, 0], 2, False)
        assert pol.proposal(0, 1) == want


def test_proofsoon_sizes_a_late_proof_as_none() -> None:
    """horizon h: a page proven more than h faults after its copy sizes the window as an
    unproven one; within h as a proof (the diagnostics count both proofs)."""
    pol = ProofSizePolicy(horizon=16, **shipped_options())
    pol.ctx.n_faults = 100
    pol.left_ring([0, 0, 1, 0, 1, 1, 1, 84], 1, True)  # 16 faults after: a proof
    assert pol.proposal(0, 0) == 2
    pol.left_ring(win := [0, 0, 2, 0, 2, 2, 2, 83], 1, True)  # 17 after: sized as unproven
    pol.left_ring(win, 2, False)
    assert pol.proposal(0, 0) == 1 and pol.proofs == [2, 0] and pol.proof_age == [33, 0]
    pol.left_ring(win := [0, 0, 2, 0, 2, 2, 2, 90], 1, True)
    pol.left_ring(win, 2, False)
    assert pol.proposal(0, 0) == 1  # the furthest prompt proof: offset 1
    no_h = ProofSizePolicy(**shipped_options())
    no_h.ctx.n_faults = 100
    no_h.left_ring([0, 0, 1, 0, 1, 1, 1, 0], 1, True)  # horizon 0: any proof counts
    assert no_h.proposal(0, 0) == 2
    with pytest.raises(ConfigError, match="policy.horizon"):
        ProofSizePolicy(horizon=-1, **shipped_options())


def test_proofprompt_asks_the_furthest_prompt_proof_growing_one_page() -> None:
    """mode prompt: a resolved window sets w to its furthest prompt proof, + 1 if that is its
    last copied page (no doubling), halves it if nothing was proven within the horizon."""
    pol = ProofSizePolicy(mode="prompt", horizon=16, **shipped_options())
    assert pol.proposal(0, 0) == pol.proposal(2, 1) == 64  # starts at MAX_K
    pol.ctx.n_faults = 100
    # [region, cls, pages left in the ring, furthest proven, last copied offset, copied, k,
    # fault number at the copy]
    pol.left_ring([0, 1, 1, 0, 1, 1, 1, 97], 1, True)  # 1 page, proven 3 faults on
    assert pol.proposal(0, 1) == 2 and pol.proposal(0, 0) == 64  # + 1, not twice; per class
    win = [0, 1, 2, 0, 2, 2, 2, 97]
    pol.left_ring(win, 1, True)
    assert pol.proposal(0, 1) == 2  # unresolved: unchanged
    pol.left_ring(win, 2, False)
    assert pol.proposal(0, 1) == 1  # the next object's page unproven: the furthest proof
    win = [0, 1, 2, 0, 2, 2, 2, 60]  # both proven, the last 40 faults on (late)
    pol.left_ring(win, 1, True)
    pol.left_ring(win, 2, True)
    assert pol.proposal(0, 1) == 1  # neither was prompt: halves, floor 1
    pol.left_ring([0, 1, 1, 0, 48, 3, 48, 99], 48, True)
    assert pol.proposal(0, 1) == 49  # a strided window's last page proven: one page more
    pol.left_ring([0, 1, 1, 0, 64, 1, 64, 99], 64, True)
    assert pol.proposal(0, 1) == 64  # cap
    for want in (32, 16, 8, 4, 2, 1, 1):  # nothing proven: halves, floor 1
        pol.left_ring([0, 1, 1, 0, 2, 1, 2, 99], 2, False)
        assert pol.proposal(0, 1) == want
    assert pol.resolved == [3, 1, 8]


def test_proofentry_widens_on_a_proof_and_halves_on_an_unproven_entry() -> None:
    pol = ProofSizePolicy(mode="entry", **shipped_options())
    assert pol.proposal(0, 0) == 1  # starts at 1
    win = [0, 0, 3, 0, 3, 3, 3, 0]
    pol.left_ring(win, 1, True)
    assert pol.proposal(0, 0) == 6  # twice the 3 pages its window copied
    pol.left_ring([0, 0, 1, 0, 1, 1, 1, 0], 1, True)
    assert pol.proposal(0, 0) == 6  # at least: a smaller window's proof does not shrink it
    for want in (3, 1, 1):
        pol.left_ring(win, 2, False)
        assert pol.proposal(0, 0) == want
    pol.left_ring([0, 0, 40, 0, 40, 40, 40, 0], 5, True)
    assert pol.proposal(0, 0) == 64 and pol.proposal(0, 1) == 1
    with pytest.raises(ConfigError, match="policy.mode"):
        ProofSizePolicy(mode="sentinel")
    with pytest.raises(ConfigError, match="proof: 1"):
        ProofSizePolicy(proof=0)


@pytest.mark.parametrize("opts", [{"mode": "window"}, {"mode": "entry"}, {"horizon": 16},
                                  {"mode": "prompt", "horizon": 16}])
def test_proofsize_follows_the_ring(opts: dict) -> None:
    """The proposer's entries are exactly the ring's live entries at the end of a run, every
    copied page left the ring once (proven, expired or overwritten), and on a sequential writer
    the stream class copies and its window stays above 1."""
    cost = make_costmodel("host")
    for t in (g.sequential(n_pages=8192, writes=8192),
              g.alloc_pool(n_pages=4096, sizes=(1,), density=0.5, seed=7),
              g.randomized(2000, 0, families="stride")):
        pol = ProofSizePolicy.for_cost(cost, **opts, **shipped_options())
        seen: list[int] = []
        left_ring = pol.left_ring

        def logged(win: list[int], off: int, proven: bool, _l=left_ring, _s=seen) -> None:
            _s.append(int(proven))
            _l(win, off, proven)

        pol.left_ring = logged  # type: ignore[method-assign]
        rec = simulate(t, pol, pol.priced(cost), fast=False)
        g_ = pol.ctx
        assert set(pol.entries) == {i for i in range(len(g_.proof_page)) if g_.proof_page[i]}
        assert len(seen) + len(pol.entries) == rec.precopied, t.name
        assert sum(seen) == g_.proven == sum(pol.proofs)
        assert len(seen) - sum(seen) == g_.expired + g_.overwritten
        if t.name == "seq":
            assert rec.precopied > 0 and pol.windows[0][0] > 1
            assert max(pol.windows[0]) <= 64


@pytest.mark.parametrize("cm", ["seed_table1", "host"])
@pytest.mark.parametrize("opts", [{}, {"zero_after": 4}, {"relative": True},
                                  {"mode": "window"}, {"mode": "entry"}, {"horizon": 16},
                                  {"mode": "prompt", "horizon": 16}])
def test_the_bound_holds_with_the_ramp(cm: str, opts: dict) -> None:
    """Objective minus that of a table of zeros (same options) <= the allowances granted, on
    tests/test_guarded_proof.py's traces (shipped options: every slot the walk steps over is
    priced, proof_ttl bounds the reads)."""
    cost = make_costmodel(cm)
    kw = shipped_options()
    copied = 0
    for t in _bound_traces() + [g.alloc_pool(n_pages=4096, sizes=(1,), density=0.5, seed=7)]:
        cls = ProofSizePolicy if "mode" in opts or "horizon" in opts else RampPolicy
        pol = cls.for_cost(cost, **opts, **kw)
        zeros = GuardedPolicy.for_cost(cost, table=[0] * N_CELLS, **kw)
        rec = simulate(t, pol, cost)
        copied += rec.precopied
        run = objective(rec, 1.0, cost.page_cost_ns)
        base = objective(simulate(t, zeros, cost), 1.0, cost.page_cost_ns)
        # 1 ns per page of slack: the budget's integer loss_ns rounds the loss down
        assert run - base <= pol.granted + t.n_pages, (t.name, run - base, pol.granted)
    assert copied > 0  # the ramp opened windows: the bound was exercised


@pytest.mark.parametrize("cls", [RampPolicy, ProofSizePolicy])
def test_the_bound_test_can_fail(cls: type[RampPolicy]) -> None:
    """With the budget given ten times the allowance it grants on paper (a spoofed grant), the
    same check fails on a uniform writer: the check is not vacuous."""
    cost = make_costmodel("seed_table1")
    kw = {**shipped_options(), "floor": 0, "grant_left": 0}
    t = g.uniform(n_pages=4096, writes=4096, seed=1)
    pol = cls.for_cost(cost, **kw)
    fault_cell = pol.fault_cell

    def spoofed(ctx: FaultContext):  # type: ignore[no-untyped-def]
        c = fault_cell(ctx)
        pol.budget += 9 * pol.allowance  # credit the bound does not count
        return c

    pol.fault_cell = spoofed  # type: ignore[method-assign]
    zeros = GuardedPolicy.for_cost(cost, table=[0] * N_CELLS, **kw)
    run = objective(simulate(t, pol, cost), 1.0, cost.page_cost_ns)
    base = objective(simulate(t, zeros, cost), 1.0, cost.page_cost_ns)
    assert run - base > pol.granted + t.n_pages


def test_ramp_proposer_script_small(tmp_path: object) -> None:
    """experiments/ramp_proposer.py on one draw per family, host: a line per policy, every
    shielded one within the 1.02 safety target and copying nothing on random/sparse where
    shield64 copies nothing, fixed k = 1 far above it there, and a verdict per ramp that
    matches the printed figures."""
    import os
    import re
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    res = subprocess.run([sys.executable, str(root / "experiments/ramp_proposer.py"),
                          "--costmodels", "host", "--draws", "1"], cwd=root,
                         env={**os.environ, "PYTHONPATH": str(root)},
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    num = r"[-+]?\d+(?:\.\d+)?"
    rows = {m[1]: (float(m[2]), float(m[3]), int(m[4]), int(m[6]), int(m[7]))
            for m in re.finditer(rf"^(\w+) +({num})% +({num}) +(\d+) +(\d+) +(\d+) +(\d+) ",
                                 res.stdout, re.M)}
    assert set(rows) == {"shield64", "guarded", "ramp", "ramp0", "ramp_rel", "proofsize",
                         "proofentry", "proofsoon", "proofprompt", "k1"}, res.stdout
    for name, (_gain, worst, rs, copied, wasted) in rows.items():
        assert 0 <= wasted <= copied
        if name != "k1":
            assert worst <= 1.02 and rs <= rows["shield64"][2] + 20, (name, rows[name])
    assert rows["k1"][1] > 1.5 and rows["k1"][2] > 100  # k = 1 wastes on random/sparse
    for ramp in ("ramp", "ramp0", "ramp_rel", "proofsize", "proofentry", "proofsoon",
                 "proofprompt"):
        v = re.search(rf"^rule, {ramp}: (PASS|FAIL): host gain ({num}) point", res.stdout, re.M)
        assert v, res.stdout
        diff = rows[ramp][0] - rows["shield64"][0]
        assert float(v[2]) == pytest.approx(diff, abs=0.011)
        ok = diff >= 0.3 and rows[ramp][1] <= 1.010 and rows[ramp][2] <= rows["shield64"][2]
        assert (v[1] == "PASS") == ok
