"""A shielded network distilled into a ``guarded`` table: PPO's or DQN's kernel form.

A PPO or DQN trained with ``shield: true`` (conf/policy/ppo.yaml, dqn.yaml) already runs
under ``guarded``'s context and risk budget (:class:`~cowrl.policies.shield.GuardView`): the
network only proposes ``k`` at each fault and the budget disposes. A float MLP has no place
in the fault path (:meth:`SB3Policy.kernel_program` raises), but ``guarded``'s table does
(the module's GUARDED mode). :func:`distill` runs the network over traces in the simulator,
records at every demand fault the guarded cell of that fault's context and the network's
*proposed* ``k`` (before the shield), and keeps per cell the ``k`` proposed most often (ties:
the smaller ``k``; a cell never visited: 0). The result is a :class:`GuardedPolicy` with that
table and the network's own shield (its options, and with the ``guard_lam`` it was saved with
the budget's prices from each run's cost model, as ``guarded``'s ``costmodel: auto``): the
same program the module runs for ``guarded``, so it runs on both targets.

The kernel then runs the table, not the network: the two decide alike exactly at the faults
where the table's ``k`` is the network's proposal (:func:`agreement`; both shielded by the
same budget, given the same proposals they take the same decisions).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np

from cowrl.errors import ConfigError
from cowrl.policies.guarded import N_CELLS, GuardedPolicy, make_guarded
from cowrl.policies.sb3 import SB3Policy
from cowrl.policies.shield import GUARD_OPTIONS
from cowrl.sim.costmodel import CostModel
from cowrl.sim.simulator import simulate
from cowrl.traces.io import Trace


@dataclass
class Distilled:
    """A distilled table and what it was distilled from."""

    policy: GuardedPolicy
    counts: np.ndarray  # (N_CELLS, degrees): the network's proposals per cell and degree
    agreement: float  # share of the distillation faults where table[cell] == the proposal
    faults: int  # demand faults recorded


def check_shielded(policy: object, where: str = "checkpoint") -> SB3Policy:
    """``policy`` if it is a shielded SB3 network (the only kind with a guarded cell and
    shield to distil into), else a one-line ConfigError naming ``where``."""
    if getattr(policy, "artifact_kind", None) != SB3Policy.artifact_kind:
        raise ConfigError(f"{where}: not a PPO/DQN (sb3) policy (it holds "
                          f"{type(policy).__name__}); only a shielded network is distilled")
    net = cast(SB3Policy, policy)
    if net.view is None or not net.shield:
        raise ConfigError(f"{where}: policy {net.name!r} was trained without the shield "
                          "(shield: true); its table would run under a budget it never had")
    return net


def proposals(policy: SB3Policy, traces: Iterable[Trace], cost: CostModel
              ) -> list[np.ndarray]:
    """Per trace, the ``(cell, proposed k)`` of every demand fault (an ``(n, 2)`` int array)
    as the shielded network runs it in the simulator under ``cost`` (its shield priced as
    deployed there, :meth:`SB3Policy.deployed_under`)."""
    net = check_shielded(policy.deployed_under(cost), policy.name)
    assert net.view is not None
    out = []
    try:
        for t in traces:
            net.view.proposals = []
            simulate(t, net, cost)
            out.append(np.asarray(net.view.proposals, dtype=np.int64).reshape(-1, 2))
    finally:
        net.view.proposals = None
    return out


def proposal_counts(props: Iterable[np.ndarray], degrees: Sequence[int]) -> np.ndarray:
    """``counts[cell, i]``: how often ``degrees[i]`` was proposed at a fault of ``cell``."""
    index = {int(d): i for i, d in enumerate(degrees)}
    counts = np.zeros((N_CELLS, len(degrees)), dtype=np.int64)
    for p in props:
        if len(p):
            np.add.at(counts, (p[:, 0], [index[int(k)] for k in p[:, 1]]), 1)
    return counts


def majority_table(counts: np.ndarray, degrees: Sequence[int]) -> list[int]:
    """Per cell the degree proposed most often (ties: the smaller degree; none: 0)."""
    order = np.argsort(np.asarray(degrees), kind="stable")  # ascending: argmax takes the first
    best = order[np.argmax(counts[:, order], axis=1)]
    return [int(degrees[b]) if counts[c].any() else 0 for c, b in enumerate(best)]


def agreement(table: Sequence[int], props: Iterable[np.ndarray]) -> float:
    """Share of the recorded faults where ``table[cell]`` is the network's proposal (nan
    with no fault)."""
    tab = np.asarray(table, dtype=np.int64)
    hits = n = 0
    for p in props:
        hits += int(np.sum(tab[p[:, 0]] == p[:, 1]))
        n += len(p)
    return hits / n if n else float("nan")


def table_policy(policy: SB3Policy, table: Sequence[int], name: str) -> GuardedPolicy:
    """``table`` under ``policy``'s shield: its options, and, saved with ``guard_lam``, the
    budget's prices from each run's cost model (``costmodel: auto``, as the network's shield
    is re-priced by :meth:`SB3Policy.deployed_under`); saved without it, the prices it was
    saved with."""
    net = check_shielded(policy, policy.name)
    assert net.view is not None
    const: Mapping[str, int] = net.view.constants
    if net.guard_lam is not None:
        return make_guarded(table=list(table), costmodel="auto", lam=net.guard_lam,
                            name=name, degrees=list(net.degrees),
                            **{k: int(const[k]) for k in GUARD_OPTIONS})
    return GuardedPolicy(table=list(table), name=name, degrees=list(net.degrees), **const)


def distill(policy: SB3Policy, traces: Iterable[Trace], cost: CostModel,
            name: str | None = None) -> Distilled:
    """The shielded network ``policy`` as a guarded table (module docstring): per cell the
    ``k`` it proposed most often over ``traces`` simulated under ``cost``, under its shield.
    Named ``name`` (default ``<network>_table``)."""
    net = check_shielded(policy, policy.name)
    props = proposals(net, traces, cost)
    counts = proposal_counts(props, net.degrees)
    table = majority_table(counts, net.degrees)
    return Distilled(policy=table_policy(net, table, name or f"{net.name}_table"),
                     counts=counts, agreement=agreement(table, props),
                     faults=int(sum(len(p) for p in props)))
