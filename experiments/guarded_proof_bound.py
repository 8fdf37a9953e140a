"""The budget bound of ``guarded`` with and without interior proofs, for extreme tables.

    python experiments/guarded_proof_bound.py --costmodel seed_table1 [--draws 3]

The bound: a run's objective exceeds that of the same program with a table of zeros (the
decisions' own cost, no window) by at most the allowances it granted. For a table of 64s
and a table of 1s, under version 3's sentinel credit (``proof = 0``) and interior proofs
(``proof = 1``), each with the class defaults and with ``grant_left = 0`` (an allowance at
every fault), and under the shipped options (conf/policy/guarded.yaml: ``proof = 1``,
``proof_ttl = 16``, the walk paid by the budget) with and without ``grant_left = 0``, prints
per trace the excess over the allowances (objective - objective of k = 0 - allowances, in
demand faults: <= 0 where the bound holds; 1 ns per page of slack for the budget's integer
rounding) and the objective / baseline. What no budget reserves is taken out of the excess
and printed apart (``unreserved``, demand faults over all traces), as
tests/test_guarded_proof.py does: the unproven proof reads with ``proof_ttl = 0`` (charged as
they happen, reserved by no copy) and the proof look's steps over ring slots the budget does
not pay for (``walk_ns`` / ``walk_empty_ns`` 0). The shipped options reserve and pay all of it.
With ``proof = 1`` the bound must hold for any table; with ``proof = 0`` the stride-2 writer
breaks it (its sentinel hits prove nothing). Traces: a stride-2 writer (every even page:
every k = 1 window's sentinel is written, its page never), a half-covered random-order fill,
uniform random writes, interleaved streams, and ``--draws`` development draws each of
``multi_stream`` and ``mixture`` (``g.randomized(2000 + d, 0, families=F)``, seeds 2000+;
before session 29 these were the protocol's held-out test traces, seeds 100000+).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cowrl.errors import ConfigError  # noqa: E402
from cowrl.metrics import objective  # noqa: E402
from cowrl.policies.guarded import N_CELLS, GuardedPolicy, shipped_options  # noqa: E402
from cowrl.policies.static import Baseline  # noqa: E402
from cowrl.registry import make_costmodel  # noqa: E402
from cowrl.sim.costmodel import CostModel  # noqa: E402
from cowrl.sim.simulator import simulate  # noqa: E402
from cowrl.traces import generators as g  # noqa: E402
from cowrl.traces.io import Trace  # noqa: E402


def excess(t: Trace, table: int, cost: CostModel, kw: dict[str, Any]
           ) -> tuple[float, float, float]:
    """(objective - objective of a table of zeros - allowances granted, what no budget
    reserves, objective / baseline) of one run, the first two in ns."""
    pol = GuardedPolicy.for_cost(cost, table=[table] * N_CELLS, **kw)
    zeros = GuardedPolicy.for_cost(cost, table=[0] * N_CELLS, **kw)
    obj = objective(simulate(t, pol, cost, fast=False), 1.0, cost.page_cost_ns)
    k0 = objective(simulate(t, zeros, cost), 1.0, cost.page_cost_ns)
    base = objective(simulate(t, Baseline(), cost), 1.0, cost.page_cost_ns)
    c = pol.ctx
    unreserved = 0.0 if pol.proof_ttl else c.unproven_reads * cost.proof_read_ns
    if not pol.walk_empty:
        unreserved += c.proof_empty * cost.proof_step_ns
    if not pol.walk:
        unreserved += (c.proof_skips + c.proof_other) * cost.proof_skip_ns
    return obj - k0 - unreserved - pol.granted, unreserved, obj / base


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--costmodel", default="seed_table1")
    ap.add_argument("--draws", type=int, default=3,
                    help="development draws (seeds 2000+) each of multi_stream and mixture")
    args = ap.parse_args()
    if args.draws < 0:
        raise ConfigError("--draws: must be 0 or more")
    cost = make_costmodel(args.costmodel)
    traces = [g.stride(n_pages=4096, stride=2, writes=2048),
              g.dense_chunks(n_pages=4096, chunk=64, coverage=0.5, seed=3),
              g.uniform(n_pages=4096, writes=4096, seed=1),
              g.interleaved(n_pages=4096, streams=3, seed=2)]
    traces += [g.randomized(2000 + d, 0, families=f, name=f"{f}_{2000 + d}")
               for f in ("multi_stream", "mixture") for d in range(args.draws)]
    shipped = shipped_options()
    variants: list[tuple[str, dict[str, Any]]] = [
        (str(kw), kw) for opts in ({}, {"grant_left": 0}) for proof in (0, 1)
        for kw in ({**opts, "proof": proof},)]
    variants += [("shipped", shipped), ("shipped, grant_left 0", {**shipped, "grant_left": 0})]
    for k in (64, 1):
        for label, kw in variants:
            worst, unres, holds, cells = -1e18, 0.0, True, []
            for t in traces:
                ex, un, rel = excess(t, k, cost, kw)
                holds &= ex <= t.n_pages  # 1 ns per page: the integer loss_ns rounds down
                worst = max(worst, ex / cost.demand_ns)
                unres += un / cost.demand_ns
                cells.append(f"{t.name} {ex / cost.demand_ns:+.1f}/{rel:.3f}")
            print(f"table {k}s {label}: worst excess {worst:+.1f} demand faults "
                  f"({'bound holds' if holds else 'BOUND BROKEN'}); unreserved {unres:.1f}")
            print("   " + ", ".join(cells), flush=True)


if __name__ == "__main__":
    from cowrl.cli import run_script

    run_script(main)
