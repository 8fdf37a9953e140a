"""proof_cutback: a proof look cut by the budget puts its bucket's next look off 2^c faults (c
the looks cut since the bucket's last proof, at most ``proof_cutback``), and so does every look
without a proof while c > 0; and the gate of a step is what the step is charged (a read of a
due entry: nothing, its reads are in the copy's reserve). The prototype, the compiled program
and the module's C decide alike, with the option on and off and with the other flags."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from test_guarded_duemap import _priced
from test_guarded_skipmap import (
    _traces,
    assert_forms_agree,
    assert_saved_without_loads_0,
    bounded_policies,
)

from cowrl.errors import ConfigError
from cowrl.policies.guarded import N_CELLS, GuardedPolicy, make_guarded
from cowrl.registry import make_costmodel
from cowrl.sim.simulator import simulate
from cowrl.traces import generators as g
from cowrl.traces.io import Trace

SPAN_AT = 750  # proof_span, a u8 (ABI 13); proof_cutback the u8 at 751


@pytest.fixture(scope="module")
def cguarded(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    from cowrl.kernel.table import CGuarded

    return CGuarded(tmp_path_factory.mktemp("cguarded_cutback"))


def _shared(t: Trace, first: int) -> Trace:
    """``t`` over two regions of equal size at starts 512 pages apart: one bucket (the key
    is the start mod 512 and the size), so each region's looks step over the other's
    entries."""
    n = t.n_pages - t.n_pages % 2
    half = n // 2
    pages = t.pages[t.pages < n]
    return Trace(pages=pages, n_pages=n, name=f"{t.name}_shared",
                 region_sizes=np.array([half, half]),
                 region_starts=np.array([1 << 32, (1 << 32) + 4096 * 512 * (half // 512 + 1)],
                                        dtype=np.uint64))


def _cut_traces() -> list[Trace]:
    return [*_traces(), _shared(g.interleaved(n_pages=4096, seed=3), 0),
            _shared(g.randomized(seed=7, draw=2), 0)]


def _policy(seed: int, ttl: int, cutback: int) -> GuardedPolicy:
    """A random table and random options (seeded; proof_backoff and proof_span 1, which the
    option needs), the given ttl and cutback; walk prices dear enough that looks are cut."""
    rng = np.random.default_rng(seed)
    table = [int(k) for k in rng.choice([0, 1, 2, 4, 8, 16, 32, 64], size=N_CELLS)]
    duemap = int(rng.integers(2))
    return GuardedPolicy(table=table, budget_per_mille=int(rng.choice([50, 300])),
                         skip_ns=300, setup_ns=900, grant_left=int(rng.integers(3)), proof=1,
                         proof_reads=int(rng.choice([1, 2, 4, 8])), proof_ttl=ttl,
                         proof_backoff=1, walk_ns=int(rng.choice([60, 400, 2000])),
                         walk_empty_ns=int(rng.choice([40, 150, 1000])),
                         proof_look=int(rng.integers(2)), proof_span=1, slots=2, near=5,
                         proof_skipmap=int(rng.integers(2)), proof_duemap=duemap,
                         walk_due_ns=30 * duemap, walk_scan_ns=5 * duemap,
                         proof_cutback=cutback)


@pytest.mark.parametrize("ttl", [0, 16])
def test_cutback_prototype_compiled_and_c_decide_alike(cguarded, ttl: int) -> None:  # noqa: ANN001
    from cowrl.kernel.table import pack_guarded

    cost = _priced()
    differ = cuts = 0
    for seed in range(3):
        decided = {}
        for cutback in (0, 3, 16):
            pol = _policy(100 * ttl + seed, ttl, cutback)
            payload = pack_guarded(pol.program())
            assert cguarded.check(payload) == 0
            assert struct.unpack_from("<2B", payload, SPAN_AT) == (1, cutback)
            for t in _cut_traces():
                ref, ev = simulate(t, pol, cost, record_events=True, fast=False)
                cuts += pol.ctx.proof_cuts
                assert max(pol.ctx.bucket_cuts) <= cutback
                assert_forms_agree(cguarded, payload, pol, t, cost, ref, ev)
                decided[(cutback, t.name)] = ev.k
        differ += sum(not np.array_equal(decided[(0, t.name)], decided[(c, t.name)])
                      for t in _cut_traces() for c in (3, 16))
    assert cuts > 0
    assert differ > 0  # the option changes decisions, and the forms agree


def test_a_read_is_not_gated_on_the_live_step_price() -> None:
    """A look whose budget holds less than walk_ns still reads a due entry of its region (a
    read is paid by the copy's reserve, not by the walk): with walk_ns above every budget the
    look is cut only at entries it steps over, and the pages copied are proven."""
    cost = make_costmodel("seed_table1")
    t = g.sequential(n_pages=2048, writes=2048)
    pol = GuardedPolicy.for_cost(cost, table=[4] * N_CELLS, proof=1, proof_ttl=16,
                                 proof_backoff=1, proof_look=1, proof_span=1, walk_ns=60000)
    simulate(t, pol, pol.priced(cost), fast=False)
    assert pol.ctx.proven > 0 and pol.ctx.proof_other == 0


@pytest.mark.parametrize("cm", ["seed_table1", "host"])
def test_cutback_keeps_the_bound_with_the_walk_paid(cm: str) -> None:
    """Loss over the same program with a table of zeros <= the allowances granted, with the
    option on (it only puts looks off: every step still paid before it is taken)."""
    cost = make_costmodel(cm)
    granted = cuts = 0
    for pol in bounded_policies(cost, proof_skipmap=1, proof_duemap=1, proof_cutback=6):
        granted += pol.granted
        cuts += pol.ctx.proof_cuts
    assert granted > 0 and cuts > 0


def test_c_guarded_checks_proof_cutback(cguarded) -> None:  # noqa: ANN001
    from cowrl.kernel.table import pack_guarded

    good = bytearray(pack_guarded(make_guarded(proof=1, proof_ttl=16, proof_backoff=1,
                                               proof_span=1, proof_cutback=16).program()))
    assert struct.unpack_from("<2B", good, SPAN_AT) == (1, 16)
    assert cguarded.check(bytes(good)) == 0
    for span, cutback in ((1, 17), (0, 1), (2, 0)):  # above 16; without proof_span; span 2
        bad = bytearray(good)
        struct.pack_into("<2B", bad, SPAN_AT, span, cutback)
        assert cguarded.check(bytes(bad)) == -22, (span, cutback)


def test_an_artifact_without_proof_cutback_loads_0(tmp_path) -> None:  # noqa: ANN001
    assert_saved_without_loads_0(tmp_path, "proof_cutback", 5, proof=1, proof_ttl=16,
                                 proof_backoff=1, proof_span=1)


@pytest.mark.parametrize(("kw", "field"), [
    ({"proof": 1, "proof_backoff": 1, "proof_span": 1, "proof_cutback": 17},
     "policy.proof_cutback must be an integer in 0..16"),
    ({"proof": 1, "proof_backoff": 1, "proof_span": 1, "proof_cutback": True},
     "policy.proof_cutback must be an integer in 0..16"),
    ({"proof": 1, "proof_backoff": 1, "proof_cutback": 2},
     "policy.proof_cutback needs proof_span: 1"),
])
def test_bad_proof_cutback_names_the_field(kw: dict, field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        make_guarded(**kw)
