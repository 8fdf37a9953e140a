"""Where ``region_look``'s late credit goes, per development draw (docs/results/region-look-s44.md,
section 3).

    python experiments/region_look_fates.py [--costmodels seed_table1 host]
        [--families phases alloc_pool] [--draws 3] [--first-draw 0] [--variants ...]
        [--tenths]

Per cost model, family and development draw (``development_draws``, seeds 2000..):
``shield64`` (a table of 64s, the shipped options) as is (``off``), with ``last_look: 1``
(``last``), with ``region_look: 1`` / ``2`` / ``3`` (``region1`` / ``region2`` /
``region3``), and ``reads`` (``region_look: 1`` whose late reserves are emptied after every
decision: the last looks' reads and their bookkeeping without their credit; a diagnostic,
not an option), replayed by the Python prototype
(``fast=False``, its counters): objective / baseline (k = 0), pages copied / wasted, the last
looks that proved their entry / did not, the late credit the windows drew (ns) and the
credit forfeited to another key; with ``--tenths``, per tenth of the trace's writes, the
pages its windows asked the engine to copy (the sum of k), the late credit drawn (us), the
last looks' proofs so far, and the faults of the stream class. Development draws only.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cowrl.devdraws import development_draws  # noqa: E402
from cowrl.errors import ConfigError  # noqa: E402
from cowrl.metrics import objective  # noqa: E402
from cowrl.policies.base import FaultContext  # noqa: E402
from cowrl.policies.guarded import Cell, GuardedPolicy, make_guarded, shipped_options  # noqa: E402
from cowrl.policies.static import StaticPrecopy  # noqa: E402
from cowrl.registry import make_costmodel  # noqa: E402
from cowrl.sim.simulator import simulate  # noqa: E402
from cowrl.traces.generators import FAMILIES  # noqa: E402

VARIANTS = {"off": {}, "last": {"last_look": 1}, "region1": {"region_look": 1},
            "region2": {"region_look": 2}, "region3": {"region_look": 3},
            "reads": {"region_look": 1}}


class ReadsOnly(GuardedPolicy):
    """``region_look: 1`` whose late reserves are emptied after every decision: no window
    ever draws on them (the last looks' reads, charges and bookkeeping, not their credit)."""

    def act(self, c: Cell, ctx: FaultContext, want: int | None = None) -> int:
        k = super().act(c, ctx, want)
        self.ctx.late_forfeit += sum(self.ctx.late)
        self.ctx.late = [0] * 4
        return k


def _trace_acts(pol: GuardedPolicy, log: list[tuple[int, int, int, int, int]]) -> None:
    """Record, per decision: the write index, k, the class, the late credit drawn, the last
    looks' proofs so far."""
    orig = pol.act

    def act(c: Cell, ctx: FaultContext, want: int | None = None) -> int:
        s0 = pol.ctx.late_spent
        k = orig(c, ctx, want)
        log.append((ctx.write_index, k, c.cls, pol.ctx.late_spent - s0, pol.ctx.last_proven))
        return k

    pol.act = act  # type: ignore[method-assign]


def _print_tenths(log: list[tuple[int, int, int, int, int]], n: int) -> None:
    tenths: list[list[tuple[int, int, int, int, int]]] = [[] for _ in range(10)]
    for row in log:
        tenths[min(row[0] * 10 // n, 9)].append(row)
    print("    k asked per tenth  ", [sum(r[1] for r in x) for x in tenths])
    print("    late drawn (us)    ", [sum(r[3] for r in x) // 1000 for x in tenths])
    last = 0
    cum = []
    for x in tenths:
        last = x[-1][4] if x else last
        cum.append(last)
    print("    last proofs so far ", cum)
    print("    stream faults      ", [sum(r[2] == 0 for r in x) for x in tenths])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--costmodels", nargs="+", default=["seed_table1", "host"])
    ap.add_argument("--families", nargs="+", default=["phases", "alloc_pool"])
    ap.add_argument("--draws", type=int, default=3)
    ap.add_argument("--first-draw", type=int, default=0, help="skip the first N draws")
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    ap.add_argument("--tenths", action="store_true")
    args = ap.parse_args()
    for f in args.families:
        if f not in FAMILIES:
            raise ConfigError(f"--families: unknown family {f!r}")
    if args.draws < 1:
        raise ConfigError(f"--draws: must be at least 1, got {args.draws}")
    for cm in args.costmodels:
        cost = make_costmodel(cm)
        for fam in args.families:
            for t in development_draws(fam, args.draws)[args.first_draw:]:
                base = objective(simulate(t, StaticPrecopy(0), cost), 1.0, cost.page_cost_ns)
                kinds = t.meta.get("kinds", "")
                print(f"{cm} {t.name} {kinds}", flush=True)
                for name in args.variants:
                    opts = VARIANTS[name]
                    pol = make_guarded(table=64, costmodel=cm,
                                       **{**shipped_options("guarded"), **opts})
                    if name == "reads":
                        pol.__class__ = ReadsOnly
                    log: list[tuple[int, int, int, int, int]] = []
                    if args.tenths:
                        _trace_acts(pol, log)
                    r = simulate(t, pol, cost, fast=False)
                    c = pol.ctx
                    print(f"  {name:8s} {objective(r, 1.0, cost.page_cost_ns) / base:.4f} x "
                          f"baseline, copied {r.precopied} wasted {r.wasted}, last look "
                          f"proved {c.last_proven} / unproven {c.last_unproven}, late drawn "
                          f"{c.late_spent} ns, forfeited {c.late_forfeit} ns", flush=True)
                    if args.tenths:
                        _print_tenths(log, len(t.pages))
    return 0


if __name__ == "__main__":
    from cowrl.cli import run_script

    run_script(main)
