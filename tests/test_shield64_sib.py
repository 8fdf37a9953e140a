"""``conf/policy/shield64_sib.yaml``: shield64 with the gated sibling window (window 16,
expected-loss stake, gate m = 4; docs/results/sibling-gate-s35.md). The file copies
shield64's options (the policy files are plain YAML, no defaults list), so the two must agree
on every other option; it decides as shield64 except in the one-address layout with forked
processes."""

from __future__ import annotations

from conftest import forked_trace
from omegaconf import OmegaConf

from cowrl.policies.guarded import GuardedPolicy
from cowrl.registry import group_config, make_costmodel, make_policy
from cowrl.sim.simulator import simulate
from cowrl.traces.io import Trace

SIB = {"sibling_window": 16, "sibling_stake": 1, "sibling_gate": 4}
SIZE = 1024
BUF = list(range(SIZE))  # each process writes its copy's 1024 pages in order


def test_the_file_is_shield64_plus_the_three_options() -> None:
    """Every option but ``name`` and the three equals shield64's; shield64 sets none of
    the three (so adopting them there would show here as a difference)."""
    base = OmegaConf.to_container(group_config("policy", "shield64"))
    sib = OmegaConf.to_container(group_config("policy", "shield64_sib"))
    assert isinstance(base, dict) and isinstance(sib, dict)
    assert sib["name"] == "shield64_sib" and base["name"] == "shield64"
    assert {k: sib[k] for k in SIB} == SIB
    assert not set(SIB) & set(base)
    rest = {k: v for k, v in sib.items() if k not in SIB and k != "name"}
    assert rest == {k: v for k, v in base.items() if k != "name"}


def test_it_resolves_to_a_guarded_policy_with_the_three() -> None:
    """``policies=[shield64_sib]`` builds through make_policy (eval.py's path): a
    GuardedPolicy with W 16, stake 1, gate 4, and shield64's budget options otherwise."""
    pol, ref = make_policy("shield64_sib"), make_policy("shield64")
    assert isinstance(pol, GuardedPolicy) and isinstance(ref, GuardedPolicy)
    assert (pol.sibling_window, pol.sibling_stake, pol.sibling_gate) == (16, 1, 4)
    assert (ref.sibling_window, ref.sibling_stake, ref.sibling_gate) == (0, 0, 0)
    for opt in ("budget_per_mille", "grant_left", "floor", "floor_slow", "proof",
                "proof_reads", "proof_ttl", "proof_backoff", "hit_scale", "stride_window"):
        assert getattr(pol, opt) == getattr(ref, opt), opt
    assert list(pol.table) == list(ref.table) == [64] * len(ref.table)


def _events(t: Trace, name: str, shared: bool) -> tuple[tuple[int, int, int],
                                                        list[tuple[int, int]]]:
    """((faults, precopied, wasted), [(page, k) per demand fault]) under seed_table1."""
    r, ev = simulate(t, make_policy(name), make_costmodel("seed_table1"), shared=shared,
                     record_events=True)
    return (r.faults, r.precopied, r.wasted), [(int(p), int(k))
                                              for p, k in zip(ev.page, ev.k, strict=True)]


def test_it_decides_otherwise_on_a_forked_trace_at_one_address() -> None:
    """A parent and two children writing their copies of 1024 pages in order, one address.
    The parent's faults meet no sibling page ahead (only its own faults have set family
    bits, all behind it): its decisions are shield64's. The children meet the parent's
    pages: the gate gathers its 64 marks during child 1 and the second child's first fault
    already opens a window (k 4 where shield64 takes 0); 153 faults fewer in all, nothing
    wasted either way (every sibling page is written by every child)."""
    t = forked_trace(BUF, BUF, BUF, size=SIZE)
    (ref, ref_ev), (sib, sib_ev) = (_events(t, n, True) for n in ("shield64", "shield64_sib"))
    assert ref == (619, 2453, 0)
    assert sib == (466, 2606, 0)

    def of(ev: list[tuple[int, int]], r: int) -> list[tuple[int, int]]:
        return [(p, k) for p, k in ev if r * SIZE <= p < (r + 1) * SIZE]

    assert of(sib_ev, 0) == of(ref_ev, 0) and len(of(ref_ev, 0)) == 245
    assert of(ref_ev, 2)[0] == (2 * SIZE, 0)
    assert of(sib_ev, 2)[0] == (2 * SIZE, 4)
    assert len(of(sib_ev, 2)) == 98 < len(of(ref_ev, 2)) == 252


def test_it_decides_as_shield64_elsewhere() -> None:
    """One process (the same buffer written by the parent alone), and the forked trace in the
    default distinct layout (each copy at pages of its own: no sibling bit ahead of any
    fault): fault for fault shield64's decisions."""
    single = forked_trace(BUF, size=SIZE)
    forked = forked_trace(BUF, BUF, BUF, size=SIZE)
    for t, shared, totals in ((single, True, (245, 779, 0)), (single, False, (245, 779, 0)),
                              (forked, False, (619, 2453, 0))):
        ref, sib = _events(t, "shield64", shared), _events(t, "shield64_sib", shared)
        assert sib == ref
        assert ref[0] == totals
