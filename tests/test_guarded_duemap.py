"""proof_duemap: a proof look jumps over the ring entries not yet due (the map of waiting
entries of ``cowrl_guarded.h``) for one ``walk_due_ns``, and refreshes that map once the
soonest is due for ``walk_scan_ns`` per waiting entry; the prototype, the compiled program and
the module's C decide alike, with the flag on and off and with the other flags combined."""

from __future__ import annotations

import dataclasses
import struct

import numpy as np
import pytest
from test_guarded_skipmap import _traces, _two, assert_forms_agree, bounded_policies

from cowrl.errors import ConfigError
from cowrl.policies.guarded import N_CELLS, GuardedPolicy, make_guarded
from cowrl.registry import make_costmodel
from cowrl.sim.simulator import simulate
from cowrl.traces import generators as g

DUEMAP_AT = 756  # the table offset of proof_duemap; walk_due_ns, walk_scan_ns: u8s at 758, 759


@pytest.fixture(scope="module")
def cguarded(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    from cowrl.kernel.table import CGuarded

    return CGuarded(tmp_path_factory.mktemp("cguarded_duemap"))


def _policy(seed: int, ttl: int, duemap: int) -> GuardedPolicy:
    """A random table and random options (seeded; proof_backoff 1, which the due map needs),
    the given ttl and duemap; walk prices dear enough that the budget binds and some looks
    are cut."""
    rng = np.random.default_rng(seed)
    table = [int(k) for k in rng.choice([0, 1, 2, 4, 8, 16, 32, 64], size=N_CELLS)]
    read_credit = int(ttl > 0 and rng.integers(2))
    due, scan = int(rng.choice([0, 30, 200])), int(rng.choice([0, 5, 40]))
    return GuardedPolicy(table=table, budget_per_mille=int(rng.choice([50, 300])),
                         skip_ns=300, setup_ns=900, grant_left=int(rng.integers(3)), proof=1,
                         proof_reads=int(rng.choice([1, 2, 4, 8, 16])), proof_ttl=ttl,
                         proof_backoff=1, walk_ns=int(rng.choice([0, 60, 400])),
                         walk_empty_ns=int(rng.choice([40, 150, 1000])), read_credit=read_credit,
                         read_ns=500 * read_credit, proof_look=int(rng.integers(2)),
                         proof_span=int(rng.integers(2)), slots=2, near=5,
                         proof_skipmap=int(rng.integers(2)), proof_duemap=duemap,
                         walk_due_ns=due * duemap, walk_scan_ns=scan * duemap)


def _priced(name: str = "seed_table1", due: float = 9.0, scan: float = 3.0) -> object:
    return dataclasses.replace(make_costmodel(name), proof_jump_ns=7.0, proof_duejump_ns=due,
                               proof_duescan_ns=scan)


@pytest.mark.parametrize("ttl", [0, 3, 16])
def test_duemap_prototype_compiled_and_c_decide_alike(cguarded, ttl: int) -> None:  # noqa: ANN001
    from cowrl.kernel.table import pack_guarded

    cost = _priced()
    differ = jumps = scans = 0
    for seed in range(3):
        decided = {}
        for duemap in (0, 1):
            pol = _policy(100 * ttl + seed, ttl, duemap)
            payload = pack_guarded(pol.program())
            assert cguarded.check(payload) == 0
            assert struct.unpack_from("<H2B", payload, DUEMAP_AT) == (
                duemap, pol.walk_due, pol.walk_scan)
            for t in _traces():
                ref, ev = simulate(t, pol, cost, record_events=True, fast=False)
                if duemap:  # no live entry is stepped over not yet due
                    assert pol.ctx.proof_skips == 0, t.name
                    jumps += pol.ctx.proof_duejumps
                    scans += pol.ctx.proof_scans
                else:
                    assert pol.ctx.proof_duejumps == pol.ctx.proof_scans == 0, t.name
                assert_forms_agree(cguarded, payload, pol, t, cost, ref, ev)
                decided[(duemap, t.name)] = ev.k
        differ += sum(not np.array_equal(decided[(0, t.name)], decided[(1, t.name)])
                      for t in _traces())
    assert jumps > 0 and scans > 0
    assert differ > 0  # the flag changes decisions, and the forms agree


def test_the_engine_charges_the_due_jumps_and_the_refreshed_entries() -> None:
    t = _two(g.stride(n_pages=4096, stride=13), 2048)
    pol = make_guarded(table=[64] * N_CELLS, proof=1, proof_ttl=16, proof_backoff=1,
                       read_credit=1, proof_look=1, proof_span=1, proof_skipmap=1,
                       proof_duemap=1)
    free = simulate(t, pol, _priced(due=0.0, scan=0.0), fast=False)
    jumps, scans = pol.ctx.proof_duejumps, pol.ctx.proof_scans
    assert jumps > 0 and scans > 0
    for fast in (False, True):
        dear = simulate(t, pol, _priced(due=1000.0, scan=10.0), fast=fast)
        assert dear.faults == free.faults and dear.precopied == free.precopied
        assert np.isclose(dear.fault_ns.sum() - free.fault_ns.sum(),
                          1000.0 * jumps + 10.0 * scans)


def test_duemap_steps_over_no_entry_not_yet_due_and_prices_from_the_cost_model() -> None:
    cost = make_costmodel("seed_table1")
    t = g.block_stride(n_pages=8192, block=3, gap=3)
    opts = dict(proof=1, proof_ttl=16, proof_backoff=1, read_credit=1, proof_look=1,
                proof_span=1, proof_skipmap=1)
    on = GuardedPolicy.for_cost(cost, table=[64] * N_CELLS, proof_duemap=1, **opts)
    off = GuardedPolicy.for_cost(cost, table=[64] * N_CELLS, **opts)
    assert on.walk_due == int(np.ceil(cost.proof_duejump_ns)) > 0
    assert on.walk_scan == int(np.ceil(cost.proof_duescan_ns)) > 0
    assert off.walk_due == off.walk_scan == 0
    simulate(t, off, cost, fast=False)
    simulate(t, on, cost, fast=False)
    assert off.ctx.proof_skips > 0 and on.ctx.proof_skips == 0
    assert on.ctx.proof_duejumps > 0


@pytest.mark.parametrize("cm", ["seed_table1", "host"])
def test_duemap_keeps_the_bound_with_the_walk_paid(cm: str) -> None:
    """Loss over the same program with a table of zeros <= the allowances granted (the due
    jumps paid at walk_due_ns = ceil(proof_duejump_ns), the refreshed entries at walk_scan_ns
    = ceil(proof_duescan_ns), charged at the cost model's prices)."""
    cost = make_costmodel(cm)
    granted = jumps = scans = 0
    for pol in bounded_policies(cost, proof_skipmap=1, proof_duemap=1):
        granted += pol.granted
        jumps += pol.ctx.proof_duejumps
        scans += pol.ctx.proof_scans
    assert granted > 0 and jumps > 0 and scans > 0


def test_c_guarded_checks_proof_duemap(cguarded) -> None:  # noqa: ANN001
    from cowrl.kernel.table import pack_guarded

    good = bytearray(pack_guarded(make_guarded(proof=1, proof_ttl=16, proof_backoff=1,
                                               proof_duemap=1).program()))
    cost = make_costmodel("seed_table1")
    assert struct.unpack_from("<H2B", good, DUEMAP_AT) == (
        1, int(np.ceil(cost.proof_duejump_ns)), int(np.ceil(cost.proof_duescan_ns)))
    assert cguarded.check(bytes(good)) == 0
    for off, value in ((DUEMAP_AT, 2), (740, 0)):  # 2; or 1 without proof_backoff
        bad = bytearray(good)
        struct.pack_into("<H", bad, off, value)
        assert cguarded.check(bytes(bad)) == -22, (off, value)
    off_map = bytearray(pack_guarded(make_guarded(proof=1, proof_ttl=16,
                                                  proof_backoff=1).program()))
    assert cguarded.check(bytes(off_map)) == 0
    for at in (758, 759):  # a price without the map
        bad = bytearray(off_map)
        bad[at] = 1
        assert cguarded.check(bytes(bad)) == -22, at


def test_an_artifact_without_proof_duemap_loads_0(tmp_path) -> None:  # noqa: ANN001
    pol = make_guarded(table=[1] * N_CELLS, proof=1, proof_ttl=16, proof_backoff=1,
                       proof_duemap=1)
    spec = pol.artifact_spec()
    assert spec["proof_duemap"] == 1 and spec["walk_due_ns"] > 0
    back = GuardedPolicy.from_artifact(spec, "g", tmp_path)
    assert (back.proof_duemap, back.walk_due, back.walk_scan) == (1, pol.walk_due,
                                                                  pol.walk_scan)
    old = {k: v for k, v in spec.items()
           if k not in ("proof_duemap", "walk_due_ns", "walk_scan_ns")}
    assert GuardedPolicy.from_artifact(old, "g", tmp_path).proof_duemap == 0


@pytest.mark.parametrize(("kw", "field"), [
    ({"proof": 1, "proof_backoff": 1, "proof_duemap": 2}, "policy.proof_duemap must be 0 or 1"),
    ({"proof": 1, "proof_backoff": 1, "proof_duemap": True},
     "policy.proof_duemap must be 0 or 1"),
    ({"proof": 1, "proof_duemap": 1}, "policy.proof_duemap needs proof_backoff: 1"),
    ({"proof": 1, "proof_backoff": 1, "proof_duemap": 1, "walk_due_ns": 256},
     "policy.walk_due_ns must be an integer in 0..255"),
    ({"proof": 1, "proof_backoff": 1, "proof_duemap": 1, "walk_scan_ns": -1},
     "policy.walk_scan_ns must be an integer in 0..255"),
    ({"proof": 1, "proof_backoff": 1, "walk_scan_ns": 3},
     "policy.walk_scan_ns must be 0 with proof_duemap: 0"),
])
def test_bad_proof_duemap_names_the_field(kw: dict, field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        make_guarded(**kw)


def test_a_due_price_the_module_cannot_hold_is_refused() -> None:
    """A due jump dearer than the module's u8 is refused by name, not clamped below what the
    engine charges (which would break the loss bound)."""
    cost = dataclasses.replace(make_costmodel("tcg"), proof_duejump_ns=255.5)
    with pytest.raises(ConfigError, match="costmodel.proof_duejump_ns"):
        GuardedPolicy.for_cost(cost, table=[1] * N_CELLS, proof=1, proof_backoff=1,
                               proof_duemap=1)
    cost = dataclasses.replace(make_costmodel("tcg"), proof_duescan_ns=300.0)
    with pytest.raises(ConfigError, match="costmodel.proof_duescan_ns"):
        GuardedPolicy.for_cost(cost, table=[1] * N_CELLS, proof=1, proof_backoff=1,
                               proof_duemap=1)
    cost = dataclasses.replace(make_costmodel("tcg"), proof_duejump_ns=255.0)
    assert GuardedPolicy.for_cost(cost, table=[1] * N_CELLS, proof=1, proof_backoff=1,
                                  proof_duemap=1).walk_due == 255
