"""proof_skipmap: a proof look jumps from an empty ring slot to the next live one (the live-slot
bitmap of ``cowrl_guarded.h``) for one ``walk_empty_ns``; the prototype, the compiled program
and the module's C decide alike, with the flag on and off."""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Iterator

import numpy as np
import pytest

from cowrl.errors import ConfigError
from cowrl.policies.guarded import N_CELLS, GuardedPolicy, make_guarded
from cowrl.registry import make_costmodel
from cowrl.sim.simulator import simulate
from cowrl.traces import generators as g
from cowrl.traces.io import Trace

SKIPMAP_AT = 754  # the table offset of proof_skipmap (the first pad after floor_slow)


@pytest.fixture(scope="module")
def cguarded(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    from cowrl.kernel.table import CGuarded

    return CGuarded(tmp_path_factory.mktemp("cguarded_skipmap"))


def _two(t: Trace, first: int) -> Trace:
    """``t`` over two regions: ``first`` pages, then the rest."""
    return Trace(pages=t.pages, n_pages=t.n_pages, name=f"{t.name}_two",
                 region_sizes=np.array([first, t.n_pages - first]))


def _phases(a: Trace, b: Trace) -> Trace:
    """Region 0 written (``a``), then region 1 (``b``): the first region's unproven copies stay
    in the ring while the second's looks run."""
    return Trace(pages=np.concatenate([a.pages, b.pages + a.n_pages]),
                 n_pages=a.n_pages + b.n_pages, name=f"{a.name}_then_{b.name}",
                 region_sizes=np.array([a.n_pages, b.n_pages]))


def _traces() -> list[Trace]:
    return [_two(g.randomized(seed=5, draw=1), 700), _two(g.randomized(seed=6, draw=3), 333),
            _two(g.stride(n_pages=4096, stride=13), 2048),
            _two(g.uniform(n_pages=2048, writes=3000, seed=9), 1024),
            _phases(g.sequential(n_pages=600, writes=400), g.block_stride(n_pages=1500, block=3,
                                                                          gap=3))]


def _policy(seed: int, ttl: int, backoff: int, skipmap: int) -> GuardedPolicy:
    """A random table and random options (seeded), the given ttl, backoff and skipmap; walk
    prices dear enough that the budget binds and some looks are cut (with walk_empty_ns 0 and
    no backoff the flag could not change a decision: the same entries, in the same order)."""
    rng = np.random.default_rng(seed)
    table = [int(k) for k in rng.choice([0, 1, 2, 4, 8, 16, 32, 64], size=N_CELLS)]
    read_credit = int(ttl > 0 and rng.integers(2))
    return GuardedPolicy(table=table, budget_per_mille=int(rng.choice([50, 300])),
                         skip_ns=300, setup_ns=900, grant_left=int(rng.integers(3)), proof=1,
                         proof_reads=int(rng.choice([1, 2, 4, 8, 16])), proof_ttl=ttl,
                         proof_backoff=backoff, walk_ns=int(rng.choice([0, 60, 400])),
                         walk_empty_ns=int(rng.choice([40, 150, 1000])), read_credit=read_credit,
                         read_ns=500 * read_credit, proof_look=int(rng.integers(2)),
                         proof_span=backoff * int(rng.integers(2)), slots=2, near=5,
                         proof_skipmap=skipmap)


def assert_forms_agree(cguarded, payload: bytes, pol: GuardedPolicy, t: Trace,  # noqa: ANN001
                       cost: object, ref: object, ev: object) -> None:
    """The compiled program and the module's header compiled for user space (``payload``)
    decide on ``t`` as the prototype did (its record ``ref`` and events ``ev``), the engine's
    times equal, and the C state's live map (and due map) match its ring after the replay."""
    got, ev_got = simulate(t, pol, cost, record_events=True, fast=True)
    assert np.array_equal(ev.page, ev_got.page), t.name
    assert np.array_equal(ev.k, ev_got.k), t.name
    assert (ref.faults, ref.precopied, ref.wasted) == (
        got.faults, got.precopied, got.wasted), t.name
    assert np.allclose(ref.fault_ns, got.fault_ns), t.name
    page, k = cguarded.replay(payload, t.pages, t.n_pages, t.region_ends, t.region_vpn_offsets)
    assert np.array_equal(page, ev.page) and np.array_equal(k, ev.k), t.name
    assert cguarded.last_bits_ok, t.name


def _jump_priced(name: str = "seed_table1", jump: float = 7.0) -> object:
    return dataclasses.replace(make_costmodel(name), proof_jump_ns=jump)


@pytest.mark.parametrize("ttl", [0, 3, 16])
@pytest.mark.parametrize("backoff", [0, 1])
def test_skipmap_prototype_compiled_and_c_decide_alike(cguarded, ttl: int,  # noqa: ANN001
                                                       backoff: int) -> None:
    from cowrl.kernel.table import pack_guarded

    cost = _jump_priced()
    differ = jumps = 0
    for seed in range(3):
        decided = {}
        for skipmap in (0, 1):
            pol = _policy(100 * ttl + 10 * backoff + seed, ttl, backoff, skipmap)
            payload = pack_guarded(pol.program())
            assert cguarded.check(payload) == 0
            assert struct.unpack_from("<H", payload, SKIPMAP_AT) == (skipmap,)
            for t in _traces():
                ref, ev = simulate(t, pol, cost, record_events=True, fast=False)
                if skipmap:  # every empty slot a look comes to is jumped from
                    assert pol.ctx.proof_empty == 0, t.name
                    jumps += pol.ctx.proof_jumps
                else:
                    assert pol.ctx.proof_jumps == 0, t.name
                assert_forms_agree(cguarded, payload, pol, t, cost, ref, ev)
                decided[(skipmap, t.name)] = ev.k
        differ += sum(not np.array_equal(decided[(0, t.name)], decided[(1, t.name)])
                      for t in _traces())
    assert jumps > 0
    assert differ > 0  # the flag changes decisions (the walk's price), and the forms agree


def test_the_engine_charges_proof_jump_ns_per_jump() -> None:
    t = _two(g.stride(n_pages=4096, stride=13), 2048)
    pol = make_guarded(table=[64] * N_CELLS, proof=1, proof_ttl=16, proof_backoff=1,
                       read_credit=1, proof_look=1, proof_span=1, proof_skipmap=1)
    free = simulate(t, pol, _jump_priced(jump=0.0), fast=False)
    jumps = pol.ctx.proof_jumps
    assert jumps > 0
    for fast in (False, True):
        dear = simulate(t, pol, _jump_priced(jump=1000.0), fast=fast)
        assert dear.faults == free.faults and dear.precopied == free.precopied
        assert np.isclose(dear.fault_ns.sum() - free.fault_ns.sum(), 1000.0 * jumps)


@pytest.mark.parametrize("fast", [False, True])
def test_skipmap_charges_no_empty_step(fast: bool) -> None:
    """With the flag the engine never charges ``proof_step_ns`` (no empty slot is stepped
    over, in the prototype nor the compiled program), so the bound needs only ``walk_empty_ns
    >= proof_jump_ns``, not the dearer of the step and the jump; without it the step is
    charged."""
    t = g.stride(n_pages=8192, stride=13)
    cost = make_costmodel("seed_table1")
    cheap, dear = (dataclasses.replace(cost, proof_step_ns=s) for s in (0.0, 1000.0))
    for skipmap in (0, 1):
        pol = GuardedPolicy.for_cost(cost, table=[64] * N_CELLS, proof=1, proof_ttl=16,
                                     proof_backoff=1, read_credit=1, proof_look=1,
                                     proof_span=1, proof_skipmap=skipmap)
        a, b = (simulate(t, pol, cm, fast=fast) for cm in (cheap, dear))
        assert (a.faults, a.precopied) == (b.faults, b.precopied)
        assert bool(b.fault_ns.sum() > a.fault_ns.sum()) is (skipmap == 0), skipmap


def test_skipmap_walks_no_hole_and_prices_a_jump_from_the_cost_model() -> None:
    cost = make_costmodel("seed_table1")
    t = g.stride(n_pages=8192, stride=13)
    on = GuardedPolicy.for_cost(cost, table=[64] * N_CELLS, proof=1, proof_ttl=16,
                                proof_backoff=1, read_credit=1, proof_look=1, proof_span=1,
                                proof_skipmap=1)
    off = GuardedPolicy.for_cost(cost, table=[64] * N_CELLS, proof=1, proof_ttl=16,
                                 proof_backoff=1, read_credit=1, proof_look=1, proof_span=1)
    assert on.walk_empty == int(np.ceil(cost.proof_jump_ns)) > 0
    assert off.walk_empty == int(np.ceil(cost.proof_step_ns))
    simulate(t, off, cost, fast=False)
    simulate(t, on, cost, fast=False)
    assert off.ctx.proof_empty > 0 and on.ctx.proof_empty == 0
    assert 0 < on.ctx.proof_jumps < off.ctx.proof_empty


@pytest.mark.parametrize("cm", ["seed_table1", "host"])
def test_skipmap_keeps_the_bound_with_the_walk_paid(cm: str) -> None:
    """Loss over the same program with a table of zeros <= the allowances granted (the jumps
    paid at walk_empty_ns = ceil(proof_jump_ns), charged proof_jump_ns)."""
    cost = make_costmodel(cm)
    granted = jumps = 0
    for pol in bounded_policies(cost, proof_skipmap=1):
        assert pol.walk_empty == int(np.ceil(cost.proof_jump_ns)) > 0
        granted += pol.granted
        jumps += pol.ctx.proof_jumps
    assert granted > 0 and jumps > 0


def bounded_policies(cost: object, **flags: int) -> Iterator[GuardedPolicy]:
    """The shipped proof flags plus ``flags``, tables of 64 and of 1 on :func:`_traces`: each
    policy's loss over the same program with a table of zeros is at most the allowances it
    was granted (one page's rounding per page); yields each policy after its run."""
    from cowrl.metrics import objective

    opts = dict(proof=1, proof_ttl=16, proof_backoff=1, proof_look=1, proof_span=1, **flags)
    for t in _traces():
        for table in ([64] * N_CELLS, [1] * N_CELLS):
            pol = GuardedPolicy.for_cost(cost, table=table, **opts)
            zero = GuardedPolicy.for_cost(cost, table=[0] * N_CELLS, **opts)
            run = objective(simulate(t, pol, pol.priced(cost), fast=False), 1.0,
                            cost.page_cost_ns)
            base = objective(simulate(t, zero, zero.priced(cost), fast=False), 1.0,
                             cost.page_cost_ns)
            assert run - base <= pol.granted + t.n_pages, (t.name, cost, table[0])
            yield pol


def test_c_guarded_checks_proof_skipmap(cguarded) -> None:  # noqa: ANN001
    from cowrl.kernel.table import pack_guarded

    good = bytearray(pack_guarded(make_guarded(proof=1, proof_ttl=16,
                                               proof_skipmap=1).program()))
    assert struct.unpack_from("<3H", good, SKIPMAP_AT) == (1, 0, 0)
    assert cguarded.check(bytes(good)) == 0
    for off, value in ((SKIPMAP_AT, 2), (SKIPMAP_AT + 2, 1), (SKIPMAP_AT + 4, 1)):
        bad = bytearray(good)
        struct.pack_into("<H", bad, off, value)
        assert cguarded.check(bytes(bad)) == -22, (off, value)
    noproof = bytearray(pack_guarded(make_guarded().program()))
    assert cguarded.check(bytes(noproof)) == 0
    struct.pack_into("<H", noproof, SKIPMAP_AT, 1)
    assert cguarded.check(bytes(noproof)) == -22


def assert_saved_without_loads_0(tmp_path, key: str, value: int, **kw: int) -> None:  # noqa: ANN001
    """A guarded artifact saves option ``key`` (= ``value``, with options ``kw``), loads it
    back, and one saved without the key (an older artifact) loads it as 0."""
    spec = make_guarded(table=[1] * N_CELLS, **{key: value}, **kw).artifact_spec()
    assert spec[key] == value
    assert getattr(GuardedPolicy.from_artifact(spec, "g", tmp_path), key) == value
    old = {k: v for k, v in spec.items() if k != key}
    assert getattr(GuardedPolicy.from_artifact(old, "g", tmp_path), key) == 0


def test_an_artifact_without_proof_skipmap_loads_0(tmp_path) -> None:  # noqa: ANN001
    assert_saved_without_loads_0(tmp_path, "proof_skipmap", 1, proof=1, proof_ttl=16)


@pytest.mark.parametrize(("kw", "field"), [
    ({"proof": 1, "proof_skipmap": 2}, "policy.proof_skipmap must be 0 or 1"),
    ({"proof": 1, "proof_skipmap": True}, "policy.proof_skipmap must be 0 or 1"),
    ({"proof": 0, "proof_skipmap": 1}, "policy.proof_skipmap needs proof: 1"),
])
def test_bad_proof_skipmap_names_the_field(kw: dict, field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        make_guarded(**kw)
