"""``guarded``'s ``stride_gate`` and ``stride_clip`` (simulator studies of ``stride_window``,
docs/results/stride-window-tiled2d-s28.md): on a column sweep they decide as ``stride_window``
alone; on 2-D tiles they keep the adjacent windows a tile's rows use; the bound holds."""

from __future__ import annotations

import numpy as np
import pytest
from test_guarded_stride import _adjacent, _adversarial, _columns, _cost

from cowrl.errors import ConfigError
from cowrl.metrics import objective
from cowrl.policies.guarded import N_CELLS, GuardedPolicy
from cowrl.sim.simulator import simulate
from cowrl.traces import generators as g
from cowrl.traces.io import Trace

VARIANTS = ({"stride_gate": 1}, {"stride_clip": 1}, {"stride_gate": 1, "stride_clip": 1})


class _Log(GuardedPolicy):
    """Logs each fault's page, degree and window stride."""

    def reset(self, n_pages: int, seed: int | None = None) -> None:
        super().reset(n_pages, seed)
        self.log: list[tuple[int, int, int]] = []

    def act(self, c, ctx, want=None):  # noqa: ANN001, ANN201
        k = super().act(c, ctx, want)
        self.log.append((ctx.page, k, self.ctx.win_stride))
        return k


def _run(t: Trace, cm: str = "seed_table1", **o: int) -> tuple[float, _Log]:
    cost = _cost(cm)
    base = objective(simulate(t, GuardedPolicy.for_cost(cost, table=[0] * N_CELLS), cost),
                     1.0, cost.page_cost_ns)
    pol = _Log.for_cost(cost, table=[64] * N_CELLS, **{**_adjacent(), **o})
    rec = simulate(t, pol, cost, fast=False)
    return objective(rec, 1.0, cost.page_cost_ns) / base, pol


@pytest.mark.parametrize("t", [_columns(96, 96), g.stride(n_pages=4096, stride=13),
                               g.stride(n_pages=4096, stride=2)], ids=lambda t: t.name)
def test_a_column_sweep_is_decided_as_without_them(t: Trace) -> None:
    """In a column sweep every page below the fault has a written left neighbour as the
    fault has: with the clip, fault for fault the same windows as ``stride_window`` alone,
    strided ones among them. ``page - s + 1`` is the next column's page (not written), except
    in the last column, where it is the row's first page: the gate keeps those windows
    adjacent (at stride 2, half the sweep), no worse there."""
    rel, ref = _run(t, stride_window=1)
    assert sum(1 for _, k, s in ref.log if s and k) > 20
    for o in VARIANTS:
        got, pol = _run(t, stride_window=1, **o)
        if t.meta.get("stride") == 2 and "stride_gate" in o:
            assert pol.gated > 50 and got <= rel + 0.002, (got, rel)
        else:
            assert pol.log == ref.log and got == rel and pol.gated == 0, o


def test_the_gate_keeps_a_tile_row_adjacent() -> None:
    """Tiles of 15 rows x 5 pages (rows of 42): where one fault per tile row suffices the
    detector sees the row stride; the gate keeps that fault's window adjacent (the rest of
    the row) and gets back what the strided windows lost (draw 2001's geometry)."""
    t = g.tiled2d(n_pages=2223, row_pages=42, tile_rows=15, tile_cols=5)
    off, _ = _run(t)
    on, _ = _run(t, stride_window=1)
    gate, pol = _run(t, stride_window=1, stride_gate=1)
    assert pol.gated > 10
    assert on > off + 0.005 and gate < on - 0.005, (off, on, gate)


@pytest.mark.parametrize("cm", ["seed_table1", "host"])
def test_the_clip_stops_at_a_tiles_bottom_row(cm: str) -> None:
    """Tiles of 13 rows x 1 page (rows of 131): strided windows past a tile's bottom row copy
    the next band's pages, a band late, and lose > 10 points; clipped at the bottom row the
    run is within 0.5 point of off (draw 2005's geometry), and at most 1 in 20 clipped windows
    reaches past its tile (in column 0 the fault's left neighbour is the previous row's last
    page, and a page an earlier window copied is private too), against 1 in 10 without."""
    t = g.tiled2d(n_pages=6160, row_pages=131, tile_rows=13, tile_cols=1)
    off, _ = _run(t, cm)
    band = 13 * 131
    past = {}
    for o in ({}, {"stride_clip": 1}):
        rel, pol = _run(t, cm, stride_window=1, **o)
        w = [(p, p + min(k, (t.n_pages - 1 - p) // s) * s) for p, k, s in pol.log if s and k]
        past[len(o)] = (rel, len(w), sum(1 for p, e in w if e // band != p // band))
    (on, n_on, past_on), (clip, n_clip, past_clip) = past[0], past[1]
    assert on > off + 0.10 and abs(clip - off) < 0.005, (off, on, clip)
    assert n_clip > 50 and past_clip * 20 <= n_clip and past_on * 10 >= n_on, past


@pytest.mark.parametrize("k", [64, 1])
def test_the_bound_holds_with_them(k: int) -> None:
    """The loss over k = 0 stays within the allowances granted (as for ``stride_window``)."""
    cost = _cost()
    for t in [*_adversarial(), g.tiled2d(n_pages=2048, row_pages=64, tile_rows=5,
                                         tile_cols=1)]:
        zeros = objective(simulate(t, GuardedPolicy.for_cost(cost, table=[0] * N_CELLS),
                                   cost), 1.0, cost.page_cost_ns)
        for o in VARIANTS:
            pol = GuardedPolicy.for_cost(cost, table=[k] * N_CELLS,
                                         **{**_adjacent(), "stride_window": 1, **o})
            run = objective(simulate(t, pol, cost), 1.0, cost.page_cost_ns)
            assert run - zeros <= pol.granted + t.n_pages, (t.name, o)


@pytest.mark.parametrize(("kw", "field"), [
    ({"stride_gate": 1}, "policy.stride_gate"),
    ({"stride_window": 1, "stride_gate": 2}, "policy.stride_gate"),
    ({"stride_clip": 1}, "policy.stride_clip"),
    ({"stride_window": 1, "stride_clip": True}, "policy.stride_clip")])
def test_bad_options_name_the_field(kw: dict, field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        GuardedPolicy(**kw)


def test_defaults_and_artifacts(tmp_path) -> None:  # noqa: ANN001
    assert GuardedPolicy(stride_window=1).options()["stride_gate"] == 0
    assert GuardedPolicy(stride_window=1).options()["stride_clip"] == 0
    pol = GuardedPolicy.for_cost(_cost(), table=[64] * N_CELLS, stride_window=1,
                                 stride_gate=1, stride_clip=1)
    back = GuardedPolicy.from_artifact(pol.artifact_spec(), "g", tmp_path)
    assert (back.stride_gate, back.stride_clip) == (1, 1)
    old = {k: v for k, v in pol.artifact_spec().items()
           if k not in ("stride_gate", "stride_clip")}
    old_pol = GuardedPolicy.from_artifact(old, "g", tmp_path)
    assert (old_pol.stride_gate, old_pol.stride_clip) == (0, 0)
    assert np.array_equal(old_pol.table, back.table)
