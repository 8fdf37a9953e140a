"""``simulate()``: replay a trace under a policy and price it (the contract the kernel is checked
against).

The rules live in :mod:`cowrl.sim.engine` and are written down in
``docs/semantics.md``. In short: every page starts shared; a write to a
shared page is a demand fault where the policy picks a degree ``k``; precopy
of degree ``k`` makes the window ``p+1 .. min(p+k, region_end-1)`` private
(already-private pages count toward ``k``); a fault with ``k > 0`` queues
precopy work; a policy that decides at run time (``static_k is None``) pays
``decide_ns`` per fault; waste is a precopied page the trace never writes.

A policy whose decisions are a kernel program (``Policy.replay_program()``:
static degree, context table, readahead) is replayed entirely in compiled
code, and so is one whose degrees are fixed in advance (``replay_degrees``: the
oracle's look-ahead); any other policy is asked at every fault through
:meth:`~cowrl.sim.engine.ReplayEngine.apply`. ``fast=False`` forces the
per-fault path (a test checks the two agree).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from cowrl.metrics import RunRecord
from cowrl.sim.costmodel import CostModel
from cowrl.sim.engine import EVENT_COLUMNS, ReplayEngine
from cowrl.sim.programs import DECIDE_CODES, GUARDED
from cowrl.traces.io import Trace

if TYPE_CHECKING:  # the policy interface lives with the policies; sim never imports it
    from cowrl.policies.base import Policy


@dataclass
class SimEvents:
    """Per-demand-fault events of one run, in order (for the kernel equivalence check)."""

    write_index: np.ndarray
    page: np.ndarray
    k: np.ndarray
    precopied: np.ndarray
    thp_first: np.ndarray
    window: np.ndarray
    """The window: ``k`` clipped at the end of the page's region (0 for ``k = 0``)."""
    skipped: np.ndarray
    """Window pages the precopy walk stepped over, already private: all of them, except in a
    GUARDED run (:func:`trims`), whose walk stops after the last window page its decision
    read shared. The window's copies are ``window`` minus its private pages; ``precopied``
    can exceed them by a ``CopyWholeHuge`` huge page's other pages."""
    run: np.ndarray | None = None
    """The fault history at each fault: consecutive sequential hits."""
    hit_rate_fp: np.ndarray | None = None
    """The fault history at each fault: sequential-hit EWMA, fixed point."""
    tallies: dict[str, int] | None = None
    """A compiled GUARDED program's decision tallies (:func:`cowrl.sim.programs.guarded_tallies`:
    the module's ``guard_*`` counters); None for other programs and ``fast=False``."""

    @property
    def work(self) -> np.ndarray:
        """1 where the fault queued precopy work (``k > 0``), as the kernel module does."""
        return (self.k > 0).astype(np.int64)

    @classmethod
    def from_table(cls, ev: np.ndarray) -> SimEvents:
        col = {c: ev[:, i] for i, c in enumerate(EVENT_COLUMNS)}
        return cls(write_index=col["write_index"], page=col["page"],
                   k=col["k"].astype(np.int32), precopied=col["precopied"].astype(np.int32),
                   thp_first=col["thp_first"].astype(np.uint8),
                   window=col["window"].astype(np.int32), skipped=col["skipped"].astype(np.int32),
                   run=col["run"], hit_rate_fp=col["hit_rate_fp"])


def decides(policy: Policy) -> int:
    """1 if ``policy`` decides ``k`` at run time at each demand fault (pays the decision cost
    of its ``decide_program``).

    Static policies (``static_k`` set: the module's STATIC mode) do not, whichever
    replay path runs them; every other policy is a pushed table in the kernel.
    """
    return 0 if policy.static_k is not None else 1


def trims(policy: Policy) -> bool:
    """Whether ``policy``'s precopy walks stop after the last window page its decision read
    shared: the runs priced as the module's GUARDED program (``decide_program``: guarded, the
    bandits on guarded's context) are the runs the module makes in GUARDED mode (their
    ``kernel_program``: a guarded table; an inert one opens no window). TABLE and STATIC
    windows do not read their pages at the decision: walked whole."""
    return DECIDE_CODES.get(policy.decide_program) == GUARDED


def _replay_policy(engine: ReplayEngine, policy: Policy, record: bool
                   ) -> tuple[np.ndarray, np.ndarray | None]:
    """Ask ``policy`` at every demand fault (learning and other Python policies)."""
    fault_ns: list[float] = []
    rows: list[tuple[int, ...]] = []
    ctx = engine.context
    while ctx is not None:
        k = int(policy.decide(ctx))
        if k < 0:
            raise ValueError(f"policy {policy.name!r} returned negative degree {k}")
        ev = engine.apply(k)
        policy.observe(ctx, ev)
        fault_ns.append(ev.fault_ns)
        if record:
            rows.append((ev.write_index, ev.page, k, ev.precopied, ev.thp_first, ev.window,
                         ev.skipped, ctx.run, ctx.hit_rate_fp, ev.wasted))
        ctx = engine.context
    table = np.asarray(rows, dtype=np.int64).reshape(-1, len(EVENT_COLUMNS)) if record else None
    return np.asarray(fault_ns, dtype=np.float64), table


def _run(trace: Trace, policy: Policy, cost: CostModel, seed: int | None, record: bool,
         fast: bool, latencies: bool, shared: bool = False
         ) -> tuple[Policy, ReplayEngine, np.ndarray, np.ndarray | None]:
    policy = policy.for_trace(trace, cost, seed=seed)
    cost = policy.priced(cost)  # e.g. guarded proof: 1 pays the dirty-bit clean per copy
    policy.reset(trace.n_pages, seed=seed)
    engine = ReplayEngine(cost, thp=policy.thp, decided=bool(decides(policy)),
                          program=policy.decide_program, trim=trims(policy), shared=shared)
    engine.reset(trace, noise_rng=np.random.default_rng(seed) if seed is not None else None)
    program = policy.replay_program() if fast else None
    if program is not None:
        res = engine.run_program(program, record=record, latencies=latencies)
        return policy, engine, res.fault_ns, res.events
    # A policy that plays a degree sequence fixed in advance (the oracle's look-ahead):
    # applied in compiled code, as the per-fault path would apply it.
    degrees = getattr(policy, "replay_degrees", None) if fast else None
    if degrees is not None:
        try:
            res = engine.run_degrees(degrees, record=record, latencies=latencies)
        except ValueError as e:
            raise ValueError(f"policy {policy.name!r}: {e}") from None
        return policy, engine, res.fault_ns, res.events
    fault_ns, table = _replay_policy(engine, policy, record)
    return policy, engine, fault_ns, table


def cow_objective(trace: Trace, policy: Policy, cost: CostModel, lam: float,
                  seed: int | None = None, shared: bool = False) -> float:
    """``objective`` (``cow_ns + lam * wasted * page_cost_ns``) of ``simulate(trace, policy,
    cost, seed, shared=shared)``, without keeping one latency per fault (the sum is taken in
    order, so it can differ from ``metrics.objective``'s pairwise sum in the last bits)."""
    _, engine, _, _ = _run(trace, policy, cost, seed, False, True, False, shared)
    return float(engine.total_ns[0]) + lam * engine.totals()["wasted"] * cost.page_cost_ns


def simulate(
    trace: Trace,
    policy: Policy,
    cost: CostModel,
    seed: int | None = None,
    record_events: bool = False,
    target: str = "sim",
    fast: bool = True,
    shared: bool = False,
) -> RunRecord | tuple[RunRecord, SimEvents]:
    """Replay ``trace`` under ``policy`` and price it with ``cost``.

    Returns a :class:`RunRecord`; with ``record_events`` also the per-fault
    events. ``seed`` seeds the cost model's noise. A policy that is resolved per
    trace (``precopy_best``, the oracle: ``Policy.for_trace``) is resolved first;
    its choice lands in ``RunRecord.extra``, and so do a compiled GUARDED program's decision
    tallies (``guard_<key>`` for each key of :func:`cowrl.sim.programs.guarded_tallies`: the
    names of the module's counters, which the kernel target's rows carry).

    ``shared``: the one-address layout (``docs/semantics.md``, "Copies at one address"):
    the regions that are other processes' copies of an earlier region (same virtual page
    and size; :func:`cowrl.sim.engine.copy_origins`) are decided at that region's pages, as
    the module sees a fork's children's copies of a parent buffer (the kernel harness's
    ``RunRequest(shared=True)``), each process keeping its own page state. False (the
    default): every region at pages of its own.
    """
    name = policy.name
    policy, engine, fault_ns, table = _run(trace, policy, cost, seed, record_events, fast, True,
                                           shared)
    tot = engine.totals()
    rec = RunRecord(
        policy=name, workload=trace.name, target=target, n_pages=trace.n_pages,
        writes=trace.writes, faults=tot["faults"], precopied=tot["precopied"],
        wasted=tot["wasted"], fault_ns=fault_ns, nonfault_write_ns=cost.write_ns,
        extra=dict(policy.run_extra()),
    )
    if engine.tallies is not None:  # a GUARDED program: the module's guard_* counters
        rec.extra.update({f"guard_{k}": v for k, v in engine.tallies.items()})
    if record_events:
        assert table is not None
        ev = SimEvents.from_table(table)
        ev.tallies = engine.tallies
        return rec, ev
    return rec

