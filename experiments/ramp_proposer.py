"""A ramp proposer under the shipped shield, against the shield alone and ``guarded``.

    nice -n 10 python experiments/ramp_proposer.py --costmodels seed_table1 host --draws 3 \
        --per-family --mechanism --beyond

On the development draws (``g.randomized(2000 + d, 0, families=f)``, d < ``--draws``, every
generator family: the draws of experiments/guarded_start.py and guarded_ttl.py; never the
protocol's held-out sets, the validation traces nor the novel patterns), per cost model, for
``shield64`` (a table of 64s: the budget alone sizes the window), ``guarded`` as shipped
(conf/policy/guarded.yaml), the ramp (:class:`cowrl.policies.ramp.RampPolicy`: per class a
window that doubles at a sentinel hit and halves at a miss, the shipped shield capping it),
the ramp with ``zero_after: 4`` (``ramp0``), the ramp with ``relative`` (``ramp_rel``: a hit
sets the window to twice the pages the hit window copied), the windows sized from the interior
proofs (:class:`cowrl.policies.ramp.ProofSizePolicy`: ``proofsize``, per window from its
furthest proven page, and ``proofentry``, per ring entry: a proof widens, an unproven entry
halves; ``proofsoon``: ``proofsize`` counting only proofs within 16 faults of the copy;
``proofprompt``: the furthest proof within 16 faults, + 1 if it is the window's last page) and
fixed ``k = 1`` (a reference, no shield), this prints:

* one line per policy: the gain (1 - geometric-mean objective / baseline, %), the worst
  draw's objective / baseline, the pages copied and wasted on the ``random`` and ``sparse``
  draws together, and the pages copied and wasted (% of copied) over all draws;
* with ``--per-family``, per family the gain of each policy;
* with ``--mechanism``, on two ``alloc_pool`` draws of 2-page groups in random order
  (development seeds 2000 and 2001; ``density`` 1 and 0.5), each policy's objective /
  baseline and pages copied / wasted, and, for ``shield64`` and the ramps, where their
  windows were decided: the share of faults whose proposal was 0, closed by the floor
  (the class's sentinel hit rate below ``floor``), cut by the budget (a smaller degree, or
  0, than proposed) or opened as proposed, and the mean proposal, then per class (stream,
  other) its share of the faults, the share of them the floor closed (its ``use`` below
  ``floor``, whatever was proposed) and its mean proposal; for the proof-sized ones
  also their resolved windows by outcome and, per offset past the fault (1, 2+), the proofs
  and the mean faults from copy to proof;
* with ``--beyond``, the same for options outside the shipped shield (not under the rule):
  ``shield64`` and ``ramp_rel`` with ``use`` fed by the interior proofs (``use_proof: 1``,
  measured in docs/policies.md and not adopted) and the proof-sized proposers with it,
  ``ramp_rel`` with no floor (``_f0``), and ``shield64`` and ``proofprompt`` with every
  degree 0..64 allowed instead of the shipped 0, 1, 2, 4, .., 64 (``_d1``: on that grid
  ``proofprompt``'s one page more rounds back down from 3 to 2);
* the verdict of the rule declared in docs/policies.md ("A ramp proposer (session 21,
  simulator study)", for the proof-sized ones "Windows sized from the interior proofs" and
  "Windows sized from the furthest prompt proof"),
  per proposer: gain >= ``shield64``'s + 0.3 point, worst <= 1.010, and no
  more pages copied than ``shield64`` on random/sparse, under every cost model given.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cowrl.devdraws import check_draws  # noqa: E402
from cowrl.metrics import geomean_gain, objective  # noqa: E402
from cowrl.policies.base import Policy  # noqa: E402
from cowrl.policies.guarded import MAX_K, N_CELLS, GuardedPolicy, shipped_options  # noqa: E402
from cowrl.policies.ramp import ProofSizePolicy, RampPolicy  # noqa: E402
from cowrl.policies.static import StaticPrecopy  # noqa: E402
from cowrl.registry import make_costmodel, make_policy  # noqa: E402
from cowrl.sim.costmodel import CostModel  # noqa: E402
from cowrl.sim.simulator import simulate  # noqa: E402
from cowrl.traces import generators as g  # noqa: E402

POLICIES = ("shield64", "guarded", "ramp", "ramp0", "ramp_rel", "proofsize", "proofentry",
            "proofsoon", "proofprompt", "k1")
RAMPS = ("ramp", "ramp0", "ramp_rel", "proofsize", "proofentry", "proofsoon", "proofprompt")
# --beyond: options outside the shipped shield, not under the rule (a lead for what limits the
# ramp): use from interior proofs (use_proof: 1, measured and not adopted), and no floor
BEYOND = ("shield64_up1", "ramp_rel_up1", "ramp_rel_f0", "proofsize_up1", "proofentry_up1",
          "proofsoon_up1", "proofprompt_up1", "shield64_d1", "proofprompt_d1")
WASTE_FAMILIES = ("random", "sparse")
MARGIN, WORST = 0.3, 1.010  # the declared rule


def build(name: str, cost: CostModel) -> Policy:
    """A fresh policy ``name`` (:data:`POLICIES`) priced by ``cost``."""
    kw = shipped_options()
    if name.endswith("_up1"):
        kw["use_proof"] = 1
    elif name.endswith("_f0"):
        kw["floor"] = 0
    elif name.endswith("_d1"):
        kw["degrees"] = list(range(MAX_K + 1))
    name = name.removesuffix("_up1").removesuffix("_f0").removesuffix("_d1")
    if name == "shield64":
        return GuardedPolicy.for_cost(cost, table=[64] * N_CELLS, **kw)
    if name == "guarded":
        shipped = make_policy("guarded")
        assert isinstance(shipped, GuardedPolicy)
        return GuardedPolicy.for_cost(cost, table=shipped.table, **kw)
    if name == "ramp":
        return RampPolicy.for_cost(cost, **kw)
    if name == "ramp0":
        return RampPolicy.for_cost(cost, zero_after=4, **kw)
    if name == "ramp_rel":
        return RampPolicy.for_cost(cost, relative=True, **kw)
    if name == "proofsize":
        return ProofSizePolicy.for_cost(cost, mode="window", **kw)
    if name == "proofentry":
        return ProofSizePolicy.for_cost(cost, mode="entry", name="proofentry", **kw)
    if name == "proofsoon":
        return ProofSizePolicy.for_cost(cost, horizon=16, name="proofsoon", **kw)
    if name == "proofprompt":
        return ProofSizePolicy.for_cost(cost, mode="prompt", horizon=16, name="proofprompt",
                                        **kw)
    return StaticPrecopy(1)


def measure(cost: CostModel, draws: int, per_family: bool,
            names: tuple[str, ...] = POLICIES) -> dict[str, dict[str, float]]:
    """Per policy: gain, worst, pages copied / wasted (random+sparse, and all draws)."""
    traces = [(f, g.randomized(2000 + d, 0, families=f)) for f in g.FAMILIES
              for d in range(draws)]
    bases = [objective(simulate(t, StaticPrecopy(0), cost), 1.0, cost.page_cost_ns)
             for _, t in traces]
    out: dict[str, dict[str, float]] = {}
    fam_gain: dict[str, dict[str, float]] = {}
    for name in names:
        rel: list[float] = []
        by_fam: dict[str, list[float]] = {}
        rs = [0, 0]  # copied, wasted on random/sparse
        tot = [0, 0]
        for (fam, t), base in zip(traces, bases, strict=True):
            pol = build(name, cost)
            rec = simulate(t, pol, pol.priced(cost) if isinstance(pol, GuardedPolicy) else cost)
            r = objective(rec, 1.0, cost.page_cost_ns) / base
            rel.append(r)
            by_fam.setdefault(fam, []).append(r)
            tot[0] += rec.precopied
            tot[1] += rec.wasted
            if fam in WASTE_FAMILIES:
                rs[0] += rec.precopied
                rs[1] += rec.wasted
        out[name] = {"gain": geomean_gain(rel), "worst": max(rel), "rs_copied": rs[0],
                     "rs_wasted": rs[1], "copied": tot[0], "wasted": tot[1]}
        fam_gain[name] = {f: geomean_gain(v) for f, v in by_fam.items()}
        o = out[name]
        print(f"{name:<13} {o['gain']:>+8.2f}% {o['worst']:>7.3f} {rs[0]:>10} {rs[1]:>10} "
              f"{tot[0]:>10} {tot[1]:>9} ({100 * tot[1] / max(tot[0], 1):4.1f}%)", flush=True)
    if per_family:
        print(f"{'family':<15}" + "".join(f"{n:>15}" for n in names))
        for f in g.FAMILIES:
            print(f"{f:<15}" + "".join(f"{fam_gain[n][f]:>+14.2f}%" for n in names))
    return out


def mechanism(cost: CostModel, names: tuple[str, ...] = POLICIES) -> None:
    """2-page groups in random order: objective, pages, and what decided each window."""
    for t in (g.alloc_pool(n_pages=16384, sizes=(1,), seed=2000),
              g.alloc_pool(n_pages=16384, sizes=(1,), density=0.5, seed=2001)):
        base = objective(simulate(t, StaticPrecopy(0), cost), 1.0, cost.page_cost_ns)
        print(f"-- {t.name} {t.writes} writes (density {1 if t.writes == 16384 else 0.5})")
        for name in names:
            pol = build(name, cost)
            seen = {"zero": 0, "floor": 0, "budget": 0, "opened": 0}
            asked = [0]
            by_cls = [[0, 0, 0], [0, 0, 0]]  # per class (stream, other): faults, floor, asked
            if isinstance(pol, GuardedPolicy) and name not in ("guarded", "k1"):
                degree = pol.degree

                def logged(c, page, limit, want=None, start=0, vpn=None,  # type: ignore[no-untyped-def]
                           _p=pol, _d=degree, _s=seen, _a=asked, _c=by_cls):
                    want_v = _p.table[c.cell] if want is None else want
                    k, copied = _d(c, page, limit, want, start, vpn)
                    _a[0] += want_v
                    closed = _p.ctx.use[c.cls] < _p.floor
                    _c[c.cls][0] += 1
                    _c[c.cls][1] += closed
                    _c[c.cls][2] += want_v
                    _s["zero" if want_v == 0 else "floor" if closed
                       else "opened" if k == want_v else "budget"] += 1
                    return k, copied

                pol.degree = logged  # type: ignore[method-assign]
            priced = pol.priced(cost) if isinstance(pol, GuardedPolicy) else cost
            rec = simulate(t, pol, priced, fast=False)
            r = objective(rec, 1.0, cost.page_cost_ns) / base
            n = max(sum(seen.values()), 1)
            caps = (" ".join(f"{k} {100 * v / n:4.1f}%" for k, v in seen.items())
                    + f" mean proposal {asked[0] / n:.1f}") if sum(seen.values()) else ""
            print(f"{name:<13} {r:.3f} copied {rec.precopied:>5} wasted {rec.wasted:>4}  {caps}",
                  flush=True)
            if sum(seen.values()):
                print(f"{'':<13} " + "; ".join(
                    f"{cls} {100 * f / n:.0f}% of the faults, floor closed "
                    f"{100 * fl / max(f, 1):.0f}%, mean proposal {a / max(f, 1):.1f}"
                    for cls, (f, fl, a) in zip(("stream", "other"), by_cls, strict=True)))
            if isinstance(pol, ProofSizePolicy):
                res, n_res = pol.resolved, max(sum(pol.resolved), 1)
                ages = "; ".join(f"offset {o}: {n} proofs, mean {a / max(n, 1):.0f} faults to "
                                 "proof" for o, n, a in zip(("1", "2+"), pol.proofs,
                                                             pol.proof_age, strict=True))
                print(f"{'':<13} windows resolved {sum(pol.resolved)}: last page proven "
                      f"{100 * res[0] / n_res:.1f}%, an earlier one only "
                      f"{100 * res[1] / n_res:.1f}%, none {100 * res[2] / n_res:.1f}%; {ages}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--costmodels", nargs="+", default=["seed_table1", "host"])
    ap.add_argument("--draws", type=int, default=3, help="development draws per family")
    ap.add_argument("--per-family", action="store_true")
    ap.add_argument("--mechanism", action="store_true",
                    help="also the 2-page-group check and what decided each window")
    ap.add_argument("--beyond", action="store_true",
                    help=f"also {', '.join(BEYOND)}: outside the shipped shield, not ruled on")
    args = ap.parse_args()
    check_draws(args.draws)
    names = POLICIES + (BEYOND if args.beyond else ())
    results = {}
    for cm in args.costmodels:
        print(f"== {cm}: {args.draws} draws x {len(g.FAMILIES)} families (seeds 2000..)")
        print(f"{'policy':<13} {'gain':>9} {'worst':>7} {'rs copied':>10} {'rs wasted':>10} "
              f"{'copied':>10} {'wasted':>9}")
        results[cm] = measure(make_costmodel(cm), args.draws, args.per_family, names)
        if args.mechanism:
            mechanism(make_costmodel(cm), names)
    for ramp in RAMPS:
        checks = []
        for cm, res in results.items():
            ref, r = res["shield64"], res[ramp]
            checks.append((f"{cm} gain {r['gain'] - ref['gain']:+.2f} point vs shield64",
                           r["gain"] - ref["gain"] >= MARGIN))
            checks.append((f"{cm} worst {r['worst']:.3f}", r["worst"] <= WORST))
            checks.append((f"{cm} random/sparse copied {r['rs_copied']:.0f} vs "
                           f"{ref['rs_copied']:.0f}", r["rs_copied"] <= ref["rs_copied"]))
        ok = all(c for _, c in checks)
        print(f"rule, {ramp}: {'PASS' if ok else 'FAIL'}: "
              + "; ".join(f"{t} {'ok' if c else 'MISS'}" for t, c in checks))


if __name__ == "__main__":
    from cowrl.cli import run_script

    run_script(main)
