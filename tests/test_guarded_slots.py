"""``guarded``'s ``slots`` above the default 4 (a simulator study, session 42,
docs/results/stream-slots-s42.md): experiments/guarded_dev_lofo.py's ``shield64_slots8`` /
``shield64_slots16`` reach the policy; with 8 interleaved writers, 8 slots tell their faults
apart as stream continuations where 4 thrash; the compiled program and the module's header
(built for user space) decide as the prototype at 8 and 16 slots."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import load_experiment
from test_guarded_program import _compiled_equals_prototype, _header_decides_as

from cowrl.policies.guarded import (
    LEFT_BUCKETS,
    N_CELLS,
    RUN_BUCKETS,
    USE_BUCKETS,
    GuardedPolicy,
    shipped_options,
)
from cowrl.registry import make_costmodel
from cowrl.sim.simulator import simulate
from cowrl.traces import generators as g


def _variant(name: str, cost_name: str = "seed_table1") -> GuardedPolicy:
    """The variant's policy as guarded_dev_lofo.run builds it (shield64: 64 in every cell)."""
    dl = load_experiment("guarded_dev_lofo")
    assert dl.VARIANTS[name] is None  # learns nothing
    return GuardedPolicy.for_cost(make_costmodel(cost_name), table=[64] * N_CELLS,
                                  **{**shipped_options("guarded"), **dl.OPTIONS.get(name, {})})


def _stream_faults(pol: GuardedPolicy, t: object, cost_name: str = "seed_table1"
                   ) -> tuple[int, int]:
    """(faults classified as stream continuations, kind exact or near; faults decided)."""
    pol.trace_log = []
    simulate(t, pol, make_costmodel(cost_name))
    kinds = np.array([e[1] // (USE_BUCKETS * LEFT_BUCKETS * RUN_BUCKETS)
                      for e in pol.trace_log])
    pol.trace_log = None
    return int(np.isin(kinds, (1, 2)).sum()), int(kinds.size)


def test_variants_set_slots() -> None:
    assert _variant("shield64").ctx.slots == 4
    assert _variant("shield64_slots8").ctx.slots == 8
    assert _variant("shield64_slots16").ctx.slots == 16
    assert _variant("shield64_slots8").program().table["slots"] == 8


@pytest.mark.parametrize("seed", [2000, 2001])
def test_eight_slots_follow_eight_writers(seed: int) -> None:
    """8 sequential writers interleaved at random (a development draw's seed): with 4 slots
    the LRU evicts a writer's slot before it faults again, so most of its faults are misses;
    8 slots keep every writer's stream."""
    t = g.interleaved(streams=8, seed=seed)
    s4, n4 = _stream_faults(_variant("shield64"), t)
    s8, n8 = _stream_faults(_variant("shield64_slots8"), t)
    assert n4 > 0 and n8 > 0
    assert s8 / n8 > s4 / n4 + 0.2, (s4, n4, s8, n8)
    assert s8 > s4, (s4, s8)


@pytest.fixture(scope="module")
def cguarded(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    from cowrl.kernel.table import CGuarded

    return CGuarded(tmp_path_factory.mktemp("cguarded"))


@pytest.mark.parametrize("name", ["shield64_slots8", "shield64_slots16"])
def test_more_slots_decide_alike_in_all_three_forms(cguarded, name: str,  # noqa: ANN001
                                                    tmp_path: Path) -> None:
    """Prototype, compiled program and cowrl_guarded.h decide alike at 8 and 16 slots, on
    traces with more writers than 4 slots (and windows opened)."""
    from cowrl.kernel.table import pack_guarded

    pol = _variant(name)
    cost = make_costmodel("seed_table1")
    payload = pack_guarded(pol.program())
    assert cguarded.check(payload) == 0
    precopied = 0
    for t in (g.interleaved(n_pages=2048, streams=12, seed=2002),
              g.randomized(seed=2000, draw=0, families=["multi_stream"])):
        got, ev = _compiled_equals_prototype(t, pol, cost)
        _header_decides_as(cguarded, payload, t, ev)
        precopied += got.precopied
    assert precopied > 0


def test_shipped_slots8_learns_with_eight_slots(monkeypatch: pytest.MonkeyPatch) -> None:
    """``shipped_slots8``'s table is learned with ``slots: 8`` (LEARN_WITH_OPTIONS) and run
    with them; ``shipped`` and ``shipped_depthcap`` are learned with the shipped 4."""
    dl = load_experiment("guarded_dev_lofo")
    calls: list[tuple[int, int]] = []

    def fake(train: object, costs: object, variants: list, **kw: object) -> list[dict]:
        calls.append((int(kw.get("slots", 4)), len(variants)))
        return [{"table": [1 + len(calls)] * N_CELLS} for _ in variants]

    monkeypatch.setattr(dl, "learn_tables", fake)
    rows = dl.run("seed_table1", ["sparse"], ["shipped", "shipped_slots8", "shipped_depthcap"],
                  1, 1, 2000, 3000, 1, False, progress=False)
    assert sorted(calls) == [(4, 2), (8, 1)]
    assert {r["variant"] for r in rows} == {"shipped", "shipped_slots8", "shipped_depthcap"}
