"""``proof_ttl``: bounding the proof reads of ``guarded`` version 4, and what it costs.

    python experiments/guarded_ttl.py --costmodels seed_table1 host

A ring entry whose page is never written stays in the ring until 128 newer copies push it
out, and every demand fault in its region may read it again (up to ``proof_reads`` per
fault). With ``proof_ttl = t`` an entry read and found unwritten ``t`` times leaves the
ring, its reserve spent: one copy causes at most ``t`` unproven reads, and the budget
reserves ``t * proof_read_ns`` per copied page on top of its clean (its loss in
``GuardedPolicy.for_cost``), so the bound "loss over k = 0 <= allowances" covers them.
``proof_ttl = 0``: reads unbounded and not reserved (shipped until 2026-12-02 17:18 UTC;
``proof_ttl: 16`` since, chosen with this script: docs/policies.md). Since 2026-12-02
(17:00 UTC) ``simulate`` charges every unproven read ``proof_read_ns`` as it happens
(``engine.replay``), whatever ``t``.

For each ``proof_ttl`` this prints, over ``--draws`` fresh draws of every generator family
(seeds 2000.., the draws of experiments/guarded_start.py; never the protocol's held-out
sets nor the validation traces), with the shipped table and options
(conf/policy/guarded.yaml): the gain (1 - geometric-mean objective / baseline), the worst
objective / baseline, the gain on the random-order fills (dense_chunks) and sequential
writers (seq), the unproven reads per demand fault (mean over all faults, and the worst
draw), the largest number of unproven reads per copied page of any draw (<= ``t`` when
``t > 0``: what the price assumes) and the entries that left by ``proof_ttl``.
``gain`` is what ``simulate`` charges (the reads as they happen). ``reserve`` is the gain
with each copied page charged ``t * proof_read_ns`` instead of the reads it caused: for
``t > 0`` the budget's worst case (what ``simulate`` charged before 17:00 UTC), for
``t = 0`` the reads not charged at all (the simulator's figure before then).
``--read-ns`` overrides the cost model's ``proof_read_ns``; ``--per-family`` then prints,
per family, the gain and the unproven reads per fault of each ``proof_ttl``, and the best
fixed k on the family's draws (chosen per family in hindsight: a reference, not a policy).
``--fates`` prints per family where the copies went (experiments/guarded_use.py's ``Probe``,
the decisions unchanged): proven, expired, overwritten when the ring wrapped
(``GuardedContext.overwritten``) or still in the ring at the end; of those that left
unproven, whether the trace wrote the page later, before the entry left (not read in time)
or after (a *late proof*: the faults and the ring entries made from the copy to that write,
and the share a ring of 256 / 512 / 1024 would still have held); the reserve not returned
and the part lost to late writes (% of baseline); the faults from each proven copy to its
proof (docs/policies.md, "Late proofs and a larger proof ring").
``--options JSON`` overrides more of the shipped options for every ttl (e.g.
``'{"proof_backoff": 1}'``, docs/policies.md "Backoff of proof reads"). ``steps/fault`` is
the ring slots the look walks per demand fault (empty, not due, another region's, or read),
``skips/fault`` those over an entry not yet due. Since 2026-12-03 ``simulate`` charges the
walk as it happens (``gain`` includes it): ``proof_step_ns`` per empty slot,
``proof_skip_ns`` per live entry stepped over unread (not yet due, or another region's);
a read's own step is in its price. ``no walk`` is the gain with the walk not charged (the
simulator's figure before then). ``--step-ns`` / ``--skip-ns`` override the cost model's
``proof_step_ns`` / ``proof_skip_ns``. ``--ring`` sets the proof ring and its look (default:
as the options say): ``shared`` (``proof_look: 0``), ``own_left`` (``proof_look: 1``: a look
ends once it saw the live entries of its region's bucket) or a prototype of
experiments/guarded_use.py (``per_region``: a ring per region, simulator only).
Every draw is one region, where both decide as the shipped ring; ``--regions R`` groups the
draws R at a time (shuffled, seed 2000) into traces of R regions, written one region after
the other (``--layout phases``) or in turns of ``--chunk`` writes (``interleaved``; ``forked``:
so, by forked children at one address, :func:`multi_region`): the
development set for what the ring does across regions (docs/policies.md, "Where held-out
numpy's walk goes").
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import cowrl.policies.guarded as guarded  # noqa: E402
from cowrl.devdraws import check_draws  # noqa: E402
from cowrl.metrics import geomean_gain as gm_gain  # noqa: E402
from cowrl.metrics import objective  # noqa: E402
from cowrl.policies.guarded import GuardedPolicy, shipped_options  # noqa: E402
from cowrl.policies.static import StaticPrecopy  # noqa: E402
from cowrl.registry import make_costmodel, make_policy  # noqa: E402
from cowrl.sim.simulator import simulate  # noqa: E402
from cowrl.traces import generators as g  # noqa: E402
from cowrl.traces.io import Trace  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from guarded_use import LATE_RINGS, RINGS, Probe, late_writes, ring_class  # noqa: E402

FORK_START = 0x7F0000000000
"""``forked``: the address of every writer's copy of the buffer (page aligned, 0 mod 512)."""


def multi_region(parts: Sequence[Trace], layout: str, chunk: int = 256) -> Trace:
    """One trace whose regions are ``parts`` (laid end to end, each keeping its own write
    order): written one region after the other (``phases``: a finished region leaves its
    unproven copies in a shared ring) or in turns of ``chunk`` writes, round robin
    (``interleaved``: workers, each writing its own region). ``forked``: as ``interleaved``,
    but each part is a forked child (``region_writers`` 1, 2, ...) writing its own copy of
    one buffer: every region has the size of the largest part and starts at the same
    address (:data:`FORK_START`), as the children of a ``fork`` hold their copies (a layout
    added after such a program, never seen in development, showed that the module's proof
    ring told those copies apart only by their process)."""
    if layout not in LAYOUTS:
        raise ValueError(f"--layout: one of {', '.join(LAYOUTS)}, got {layout!r}")
    if chunk < 1:
        raise ValueError(f"--chunk: must be >= 1, got {chunk!r}")
    forked = layout == "forked"
    sizes = np.array([t.n_pages for t in parts], dtype=np.int64)
    if forked:
        sizes[:] = sizes.max()
    offs = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    own = [np.asarray(t.pages, dtype=np.int64) + o for t, o in zip(parts, offs, strict=True)]
    if layout == "phases":
        pages = np.concatenate(own)
    else:
        turns = [[p[i:i + chunk] for i in range(0, p.size, chunk)] for p in own]
        pages = np.concatenate([x[r] for r in range(max(len(x) for x in turns))
                                for x in turns if r < len(x)])
    fams = "+".join(str(t.meta.get("family", t.name)) for t in parts)
    fork = {"region_starts": np.full(sizes.size, FORK_START, dtype=np.uint64),
            "region_writers": np.arange(1, sizes.size + 1, dtype=np.int32)} if forked else {}
    return Trace(pages=pages, n_pages=int(sizes.sum()), name=f"{layout}:{fams}",
                 region_sizes=sizes, meta={"family": f"{layout}:{fams}"}, **fork)


LAYOUTS = ("phases", "interleaved", "forked")


def best_fixed(draws: Sequence[Trace], bases: Sequence[float], cost: Any
               ) -> dict[str, tuple[float, int]]:
    """Per family: the gain of the best fixed k (of guarded's degrees) over its draws, and
    that k."""
    rel: dict[str, dict[int, list[float]]] = {}
    for t, base in zip(draws, bases, strict=True):
        fam = rel.setdefault(str(t.meta.get("family")), {})
        for k in guarded.DEGREES[1:]:
            rec = simulate(t, StaticPrecopy(k), cost)
            fam.setdefault(k, []).append(objective(rec, 1.0, cost.page_cost_ns) / base)
    return {f: max((gm_gain(v), k) for k, v in ks.items()) for f, ks in rel.items()}


def print_fates(draws: Sequence[Trace], bases: Sequence[float], cost: Any,
                table: Sequence[int], kw: dict[str, Any], ring: str | None) -> None:
    """``--fates``: per family, where the copies went (experiments/guarded_use.py's
    :class:`Probe`, the decisions unchanged) and, for those not proven, whether and how late
    the trace wrote the page (:func:`late_writes`)."""
    if ring == "per_region":
        raise SystemExit("--fates: the fates assume one ring (not --ring per_region)")
    rows: dict[str, Counter[str]] = {}
    late: dict[str, list[np.ndarray]] = {}
    delay: dict[str, list[np.ndarray]] = {}  # faults from each proven copy to its proof
    for t, base in zip(draws, bases, strict=True):
        pol = ring_class(ring, Probe).for_cost(cost, table=table, **kw)
        assert isinstance(pol, Probe)
        rec = simulate(t, pol, pol.priced(cost), fast=False)
        pol.finish()
        fam = str(t.meta.get("family"))
        row = rows.setdefault(fam, Counter())
        c = pol.ctx
        lw = late_writes(t, pol)
        left = lw["fate"] < 2  # expired or overwritten (not: still in the ring at the end)
        gone = left & lw["written"] & ~lw["in_time"]  # written only after its entry left
        row.update(copies=rec.precopied, proven=c.proven, expired=c.expired,
                   overwritten=c.overwritten, in_ring=int((lw["fate"] == 2).sum()),
                   never=int((left & ~lw["written"]).sum()), in_time=int(lw["in_time"].sum()),
                   late=int(gone.sum()), last_proven=c.last_proven,
                   last_unproven=c.last_unproven)
        # the reserve (loss per copy) not returned, in ppm of the baseline, per draw
        row["lost_ppm"] += round(1e6 * lw["fate"].size * pol.loss / base)
        row["late_ppm"] += round(1e6 * int(gone.sum()) * pol.loss / base)
        row["draws"] += 1
        late.setdefault(fam, []).append(np.stack([lw["faults"][gone], lw["copies"][gone]]))
        recs = [r for cls in ("stream", "other") for r in pol.fate_recs.get((cls, "proven"), [])]
        delay.setdefault(fam, []).append(np.array([r[4] - r[1] for r in recs], dtype=np.int64))
    print(f"-- fates of the copies, ring of {guarded.PROOFS}, proof_ttl {kw.get('proof_ttl')}: "
          "not proven = expired + overwritten + in ring at the end; of the expired and "
          "overwritten: never written later, written while in the ring (not read in time), "
          "written after the entry left (late: faults and "
          "ring entries made from the copy to that write, median / 90th percentile; share a "
          f"ring of {' / '.join(map(str, LATE_RINGS))} would still hold); reserve not returned, "
          "and lost to late writes, % of baseline (mean per draw); faults from a proven copy "
          "to its proof (p50/90)" + ("; last_look 1: the entries a last look proved count as "
                                     "proven (not overwritten), then the last looks that proved "
                                     "/ did not" if kw.get("last_look") else ""))
    print(f"{'family':<14} {'copies':>7} {'proven':>7} {'expired':>7} {'overwr':>7} "
          f"{'in ring':>7} {'never':>7} {'in time':>7} {'late':>7} {'faults p50/90':>14} "
          f"{'entries p50/90':>15} {'held by':>15} {'lost':>6} {'late':>6} {'proof p50/90':>12}")
    for fam, row in [*rows.items(), ("all", sum(rows.values(), Counter()))]:
        lt = np.concatenate(late[fam] if fam != "all" else sum(late.values(), []), axis=1)
        dl = np.concatenate(delay[fam] if fam != "all" else sum(delay.values(), []))
        def q(x: np.ndarray) -> str:
            return f"{np.percentile(x, 50):.0f}/{np.percentile(x, 90):.0f}" if x.size else "-"

        held = "/".join(f"{(lt[1] < r).mean():.0%}" if lt.shape[1] else "-" for r in LATE_RINGS)
        n = max(row["draws"], 1)
        print(f"{fam:<14} {row['copies']:>7} {row['proven']:>7} {row['expired']:>7} "
              f"{row['overwritten']:>7} {row['in_ring']:>7} {row['never']:>7} "
              f"{row['in_time']:>7} {row['late']:>7} {q(lt[0]):>14} {q(lt[1]):>15} "
              f"{held:>15} {row['lost_ppm'] / n / 1e4:>5.2f}% {row['late_ppm'] / n / 1e4:>5.2f}% "
              f"{q(dl):>12}" + (f" last look {row['last_proven']} proven, "
                                f"{row['last_unproven']} unproven" if kw.get("last_look")
                                else ""), flush=True)


def region_draws(draws: Sequence[Trace], regions: int, layout: str, chunk: int = 256,
                 seed: int = 2000) -> list[Trace]:
    """The development draws grouped ``regions`` at a time (in an order shuffled by
    ``seed``; a remainder is left out) into traces of that many regions (:func:`multi_region`)."""
    if regions < 2:
        return list(draws)
    order = np.random.default_rng(seed).permutation(len(draws))
    return [multi_region([draws[j] for j in order[i:i + regions]], layout, chunk)
            for i in range(0, len(order) - regions + 1, regions)]


def add_region_args(ap: argparse.ArgumentParser) -> None:
    """``--regions``, ``--layout``, ``--chunk``: the arguments of :func:`region_draws` (here and
    in experiments/bandit_dev.py)."""
    ap.add_argument("--regions", type=int, default=1,
                    help="group the draws this many at a time into traces of as many "
                         "regions (1: the single-region draws)")
    ap.add_argument("--layout", default="phases", choices=LAYOUTS,
                    help="with --regions: one region after the other, or in turns")
    ap.add_argument("--chunk", type=int, default=256,
                    help="with --layout interleaved or forked: writes per turn")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--costmodels", nargs="+", default=["seed_table1", "host"])
    ap.add_argument("--ttls", type=int, nargs="+", default=[0, 1, 2, 3, 4, 6, 8, 16])
    ap.add_argument("--draws", type=int, default=2, help="fresh draws per family")
    ap.add_argument("--read-ns", type=float, default=None,
                    help="override the cost model's proof_read_ns")
    ap.add_argument("--options", type=json.loads, default={},
                    help="JSON: options overriding the shipped ones (every ttl)")
    ap.add_argument("--step-ns", type=float, default=None,
                    help="override the cost model's proof_step_ns (an empty ring slot)")
    ap.add_argument("--skip-ns", type=float, default=None,
                    help="override the cost model's proof_skip_ns (a live entry not read)")
    ap.add_argument("--ring", default=None, choices=list(RINGS),
                    help="the proof ring and look (default: as the options say): shared "
                         "(proof_look 0), own_left (proof_look 1) or the per_region prototype "
                         "of experiments/guarded_use.py")
    add_region_args(ap)
    ap.add_argument("--ring-size", type=int, default=guarded.PROOFS,
                    help="entries of each proof ring (a power of two; the module's "
                         "COWRL_GUARDED_PROOFS is 128): with --ring per_region, e.g. 128 / "
                         "--regions for the shared ring's capacity")
    ap.add_argument("--per-family", action="store_true",
                    help="per family: gain (unproven reads per fault) of each ttl")
    ap.add_argument("--fates", action="store_true",
                    help="per family and ttl: where the copies went, and how late the pages "
                         "not proven were written (experiments/guarded_use.py's Probe)")
    args = ap.parse_args()
    check_draws(args.draws)
    if args.ring_size < 1 or args.ring_size & (args.ring_size - 1):
        ap.error(f"--ring-size: a power of two, got {args.ring_size}")
    guarded.PROOFS = args.ring_size  # read by GuardedContext.reset and GuardedPolicy.prove
    shipped = make_policy("guarded")
    assert isinstance(shipped, GuardedPolicy)
    kw = {**shipped_options(), **args.options}
    draws = [g.randomized(2000 + d, 0, families=f) for f in g.FAMILIES
             for d in range(args.draws)]
    draws = region_draws(draws, args.regions, args.layout, args.chunk)
    for name in args.costmodels:
        cost = make_costmodel(name)
        if args.read_ns is not None:
            cost = dataclasses.replace(cost, proof_read_ns=args.read_ns)
        if args.step_ns is not None:
            cost = dataclasses.replace(cost, proof_step_ns=args.step_ns)
        if args.skip_ns is not None:
            cost = dataclasses.replace(cost, proof_skip_ns=args.skip_ns)
        bases = [objective(simulate(t, StaticPrecopy(0), cost), 1.0, cost.page_cost_ns)
                 for t in draws]
        print(f"== {name}: proof_clean_ns {cost.proof_clean_ns:g}, proof_read_ns "
              f"{cost.proof_read_ns:g}, proof_step_ns {cost.proof_step_ns:g}, proof_skip_ns "
              f"{cost.proof_skip_ns:g}, proof_reads {kw.get('proof_reads')}, "
              f"{len(draws)} draws ({args.draws} per family"
              + (f", {args.regions} regions each, {args.layout}"
                 + (f" in turns of {args.chunk} writes" if args.layout != "phases" else "")
                 if args.regions > 1 else "")
              + f"), options {args.options}, ring {args.ring} of {args.ring_size}",
              flush=True)
        print(f"{'ttl':>3} {'priced/copy':>11} {'gain':>7} {'reserve':>7} {'worst':>6} "
              f"{'dense_chunks':>12} "
              f"{'seq':>6} {'unproven/fault':>14} {'worst draw':>10} {'max/copy':>8} "
              f"{'expired':>7} {'proven':>7} {'copied':>7} {'steps/fault':>11} "
              f"{'skips/fault':>11} {'no walk':>7}")
        per_family: list[tuple[int, dict[str, tuple[float, float]]]] = []
        for ttl in args.ttls:
            rel, act, walk, fam_rel = [], [], [], {"dense_chunks": [], "seq": []}
            steps = skips = 0
            fam_act: dict[str, list[float]] = {}
            fam_reads: dict[str, list[int]] = {}
            unproven = faults = expired = proven = copied = 0
            worst_rate = worst_copy = 0.0
            for t, base in zip(draws, bases, strict=True):
                pol = ring_class(args.ring).for_cost(cost, table=shipped.table,
                                             **{**kw, "proof_ttl": ttl})
                rec = simulate(t, pol, pol.priced(cost), fast=False)
                r = objective(rec, 1.0, cost.page_cost_ns) / base
                rel.append(r)
                c = pol.ctx
                act.append(r + (ttl * rec.precopied - c.unproven_reads) * cost.proof_read_ns
                           / base)
                walk.append(r - (c.proof_empty * cost.proof_step_ns
                                 + (c.proof_skips + c.proof_other) * cost.proof_skip_ns) / base)
                steps += c.proof_steps
                skips += c.proof_skips
                fam_act.setdefault(str(t.meta.get("family")), []).append(r)
                fr = fam_reads.setdefault(str(t.meta.get("family")), [0, 0])
                fr[0] += c.unproven_reads
                fr[1] += rec.faults
                fam = t.meta.get("family")
                if fam in fam_rel:
                    fam_rel[fam].append(r)
                unproven += c.unproven_reads
                faults += rec.faults
                expired += c.expired
                proven += c.proven
                copied += rec.precopied
                worst_rate = max(worst_rate, c.unproven_reads / max(rec.faults, 1))
                worst_copy = max(worst_copy, c.unproven_reads / max(rec.precopied, 1))
            priced = cost.proof_clean_ns + ttl * cost.proof_read_ns
            print(f"{ttl:>3} {priced:>11.0f} {gm_gain(rel):>+6.2f}% {gm_gain(act):>+6.2f}% "
                  f"{max(rel):>6.3f} "
                  f"{gm_gain(fam_rel['dense_chunks']):>+11.2f}% {gm_gain(fam_rel['seq']):>+5.1f}%"
                  f" {unproven / max(faults, 1):>14.2f} {worst_rate:>10.2f} {worst_copy:>8.2f} "
                  f"{expired:>7} {proven:>7} {copied:>7} {steps / max(faults, 1):>11.2f} "
                  f"{skips / max(faults, 1):>11.2f} {gm_gain(walk):>+6.2f}%", flush=True)
            per_family.append((ttl, {f: (gm_gain(v), fam_reads[f][0] / max(fam_reads[f][1], 1))
                                     for f, v in fam_act.items()}))
            if args.fates:
                print_fates(draws, bases, cost, shipped.table, {**kw, "proof_ttl": ttl},
                            args.ring)
        if args.per_family:
            best = best_fixed(draws, bases, cost)
            print(f"-- {name}: per family, gain (unproven reads per fault) of each ttl; the "
                  "best fixed k on the family's draws (its gain)")
            print(f"{'family':<14} " + " ".join(f"{'ttl ' + str(t):>17}" for t, _ in per_family)
                  + f" {'best k':>14}")
            for fam in per_family[0][1]:
                print(f"{fam:<14} " + " ".join(f"{row[fam][0]:>+8.2f}% ({row[fam][1]:5.2f})"
                                               for _, row in per_family)
                      + f" {best[fam][1]:>4} ({best[fam][0]:+6.2f}%)", flush=True)


if __name__ == "__main__":
    from cowrl.cli import run_script

    run_script(main)
