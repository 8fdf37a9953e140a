"""A shielded network distilled into a ``guarded`` table: PPO's or DQN's kernel form.

A PPO or DQN trained with ``shield: true`` (conf/policy/ppo.yaml, dqn.yaml) already runs
under ``guarded``'s context and risk budget (:class:`~cowrl.policies.shield.GuardView`): the
network only proposes ``k`` at each fault and the budget disposes. A float MLP has no place
in the fault path (:meth:`SB3Policy.kernel_program` raises), but ``guarded``'s table does
(the module's GUARDED mode). :func:`distill` runs the network over traces in the simulator,
records at every demand fault the guarded cell of that fault's context, the network's
*proposed* ``k`` (before the shield) and whether the shield would let any window open there,
and keeps per cell the ``k`` proposed most often (ties: the smaller ``k``; a cell never
visited: 0). By default (``faults="open"``) only the faults where the shield was open count
(elsewhere every proposal gives ``k = 0``, table's and network's alike), a cell never open
taking its majority over all its faults; ``faults="every"`` counts every fault.
The result is a :class:`GuardedPolicy` with that table and the network's own shield (its
options, and with the ``guard_lam`` it was saved with the budget's prices from each run's cost
model, as ``guarded``'s ``costmodel: auto``): the same program the module runs for
``guarded``, so it runs on both targets.

The kernel then runs the table, not the network: the two decide alike at the faults where the
table's ``k`` is the network's proposal or the shield is closed (:func:`agreement`; both
shielded by the same budget, given the same proposals they take the same decisions).
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
    open_counts: np.ndarray  # the same at the faults where the shield was open
    agreement: float  # share of the distillation faults where table[cell] == the proposal
    open_agreement: float  # the same among the faults where the shield was open
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


FAULTS = ("open", "every")  # which faults the majority counts (module docstring)


def proposals(policy: SB3Policy, traces: Iterable[Trace], cost: CostModel
              ) -> list[np.ndarray]:
    """Per trace, the ``(cell, proposed k, open)`` of every demand fault (an ``(n, 3)`` int
    array; ``open``: 1 if the shield would let some window open there)
    as the shielded network runs it in the simulator under ``cost`` (its shield priced as
    deployed there, :meth:`SB3Policy.deployed_under`)."""
    net = check_shielded(policy.deployed_under(cost), policy.name)
    assert net.view is not None
    out = []
    try:
        for t in traces:
            net.view.proposals = []
            simulate(t, net, cost)
            out.append(np.asarray(net.view.proposals, dtype=np.int64).reshape(-1, 3))
    finally:
        net.view.proposals = None
    return out


def proposal_counts(props: Iterable[np.ndarray], degrees: Sequence[int],
                    open_only: bool = False) -> np.ndarray:
    """``counts[cell, i]``: how often ``degrees[i]`` was proposed at a fault of ``cell`` (with
    ``open_only``, at a fault where the shield was open)."""
    index = {int(d): i for i, d in enumerate(degrees)}
    counts = np.zeros((N_CELLS, len(degrees)), dtype=np.int64)
    for p in props:
        if open_only:
            p = p[p[:, 2] > 0]
        if len(p):
            np.add.at(counts, (p[:, 0], [index[int(k)] for k in p[:, 1]]), 1)
    return counts


def majority_table(counts: np.ndarray, degrees: Sequence[int],
                   fallback: np.ndarray | None = None) -> list[int]:
    """Per cell the degree proposed most often (ties: the smaller degree); a cell with no
    count: its majority in ``fallback``, if it has counts there, else 0."""
    order = np.argsort(np.asarray(degrees), kind="stable")  # ascending: argmax takes the first

    def best(c: np.ndarray) -> int:
        return int(degrees[order[int(np.argmax(c[order]))]])

    return [best(counts[c]) if counts[c].any()
            else best(fallback[c]) if fallback is not None and fallback[c].any() else 0
            for c in range(len(counts))]


def agreement(table: Sequence[int], props: Iterable[np.ndarray], open_only: bool = False
              ) -> float:
    """Share of the recorded faults (with ``open_only``: where the shield was open) where
    ``table[cell]`` is the network's proposal (nan with no fault)."""
    tab = np.asarray(table, dtype=np.int64)
    hits = n = 0
    for p in props:
        if open_only:
            p = p[p[:, 2] > 0]
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
            name: str | None = None, faults: str = "open") -> Distilled:
    """The shielded network ``policy`` as a guarded table (module docstring): per cell the
    ``k`` it proposed most often over ``traces`` simulated under ``cost`` (``faults``: at the
    faults where its shield was open, or at every fault), under its shield. Named ``name``
    (default ``<network>_table``)."""
    if faults not in FAULTS:
        raise ConfigError(f"faults: one of {', '.join(FAULTS)}, got {faults!r}")
    net = check_shielded(policy, policy.name)
    props = proposals(net, traces, cost)
    counts = proposal_counts(props, net.degrees)
    opened = proposal_counts(props, net.degrees, open_only=True)
    table = (majority_table(opened, net.degrees, fallback=counts) if faults == "open"
             else majority_table(counts, net.degrees))
    return Distilled(policy=table_policy(net, table, name or f"{net.name}_table"),
                     counts=counts, open_counts=opened, agreement=agreement(table, props),
                     open_agreement=agreement(table, props, open_only=True),
                     faults=int(sum(len(p) for p in props)))
