"""The budget bound of ``guarded`` with and without interior proofs, for extreme tables.

    python experiments/guarded_proof_bound.py --costmodel seed_table1

The bound: a run's objective exceeds that of the same program with a table of zeros (the
decisions' own cost, no window) by at most the allowances it granted. For a table of 64s
and a table of 1s, under version 3's sentinel credit (``proof = 0``) and interior proofs
(``proof = 1``), each with the shipped options and with ``grant_left = 0`` (an allowance
at every fault), prints per trace the excess over the allowances (objective - objective of
k = 0 - allowances, in demand faults: <= 0 where the bound holds) and the objective /
baseline. Traces: a stride-2 writer (every even page: every k = 1 window's sentinel is
written, its page never), a half-covered random-order fill, uniform random writes,
interleaved streams, and 3 held-out draws each of ``multi_stream`` and ``mixture``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cowrl.generalization import test_traces  # noqa: E402
from cowrl.metrics import objective  # noqa: E402
from cowrl.policies.guarded import N_CELLS, GuardedPolicy  # noqa: E402
from cowrl.policies.static import Baseline  # noqa: E402
from cowrl.registry import make_costmodel  # noqa: E402
from cowrl.sim.simulator import simulate  # noqa: E402
from cowrl.traces import generators as g  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--costmodel", default="seed_table1")
    args = ap.parse_args()
    cost = make_costmodel(args.costmodel)
    traces = [g.stride(n_pages=4096, stride=2, writes=2048),
              g.dense_chunks(n_pages=4096, chunk=64, coverage=0.5, seed=3),
              g.uniform(n_pages=4096, writes=4096, seed=1),
              g.interleaved(n_pages=4096, streams=3, seed=2)]
    traces += test_traces("multi_stream", 3, None, None) + test_traces("mixture", 3, None, None)
    for k in (64, 1):
        for opts in ({}, {"grant_left": 0}):
            for proof in (0, 1):
                kw = {**opts, "proof": proof}
                worst, cells = -1e18, []
                for t in traces:
                    pol = GuardedPolicy.for_cost(cost, table=[k] * N_CELLS, **kw)
                    zeros = GuardedPolicy.for_cost(cost, table=[0] * N_CELLS, **kw)
                    obj = objective(simulate(t, pol, cost, fast=False), 1.0, cost.page_cost_ns)
                    k0 = objective(simulate(t, zeros, cost), 1.0, cost.page_cost_ns)
                    base = objective(simulate(t, Baseline(), cost), 1.0, cost.page_cost_ns)
                    excess = (obj - k0 - pol.granted) / cost.demand_ns
                    worst = max(worst, excess)
                    cells.append(f"{t.name} {excess:+.1f}/{obj / base:.3f}")
                print(f"table {k}s {kw}: worst excess {worst:+.1f} demand faults "
                      f"({'bound holds' if worst <= 1e-6 * 4096 else 'BOUND BROKEN'})")
                print("   " + ", ".join(cells), flush=True)


if __name__ == "__main__":
    from cowrl.cli import run_script

    run_script(main)
