"""Where ``region_look``'s late credit goes, per development draw (docs/results/region-look-s44.md,
section 3).

    python experiments/region_look_fates.py [--costmodels seed_table1 host]
        [--families phases alloc_pool] [--draws 3]

Per cost model, family and development draw (``development_draws``, seeds 2000..): ``shield64``
(a table of 64s, the shipped options) as is (``off``), with ``last_look: 1`` (``last``), with
``region_look: 1`` / ``2`` (``region1`` / ``region2``), and ``reads`` (``region_look: 1`` whose
late reserves are emptied after every decision: the last looks' reads and their bookkeeping
without their credit; a diagnostic, not an option), replayed by the Python prototype
(``fast=False``, its counters): objective / baseline (k = 0), pages copied / wasted, the last
looks that proved their entry / did not, the late credit the windows drew (ns) and the
credit forfeited to another key. Development draws only.
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
            "region2": {"region_look": 2}, "reads": {"region_look": 1}}


class ReadsOnly(GuardedPolicy):
    """``region_look: 1`` whose late reserves are emptied after every decision: no window
    ever draws on them (the last looks' reads, charges and bookkeeping, not their credit)."""

    def act(self, c: Cell, ctx: FaultContext, want: int | None = None) -> int:
        k = super().act(c, ctx, want)
        self.ctx.late_forfeit += sum(self.ctx.late)
        self.ctx.late = [0] * 4
        return k


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--costmodels", nargs="+", default=["seed_table1", "host"])
    ap.add_argument("--families", nargs="+", default=["phases", "alloc_pool"])
    ap.add_argument("--draws", type=int, default=3)
    args = ap.parse_args()
    for f in args.families:
        if f not in FAMILIES:
            raise ConfigError(f"--families: unknown family {f!r}")
    if args.draws < 1:
        raise ConfigError(f"--draws: at least 1, got {args.draws}")
    for cm in args.costmodels:
        cost = make_costmodel(cm)
        for fam in args.families:
            for t in development_draws(fam, args.draws):
                base = objective(simulate(t, StaticPrecopy(0), cost), 1.0, cost.page_cost_ns)
                kinds = t.meta.get("kinds", "")
                print(f"{cm} {t.name} {kinds}", flush=True)
                for name, opts in VARIANTS.items():
                    pol = make_guarded(table=64, costmodel=cm,
                                       **{**shipped_options("guarded"), **opts})
                    if name == "reads":
                        pol.__class__ = ReadsOnly
                    r = simulate(t, pol, cost, fast=False)
                    c = pol.ctx
                    print(f"  {name:8s} {objective(r, 1.0, cost.page_cost_ns) / base:.4f} x "
                          f"baseline, copied {r.precopied} wasted {r.wasted}, last look "
                          f"proved {c.last_proven} / unproven {c.last_unproven}, late drawn "
                          f"{c.late_spent} ns, forfeited {c.late_forfeit} ns", flush=True)
    return 0


if __name__ == "__main__":
    from cowrl.cli import run_script

    run_script(main)
