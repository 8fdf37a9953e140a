"""Run-to-run noise of the kernel target's ``cow_ns``: TCG with host time vs ``-icount``.

    python experiments/bench_kernel_noise.py [--modes off,0] [--pages 4096] [--reps 5]
        [--release 6.1|6.12] [--pcp-high pinned|auto] [--policies baseline,guarded0,precopy4]
        [--faults-npz FILE]

For each clock mode (``kernel.icount``: ``off`` = guest time is host time,
an integer N = ``-icount shift=N,sleep=off``, ``auto``) one guest boot runs
identical (policy, sequential trace) pairs ``--reps`` times each, interleaved
(rep, then policies in rotated order), after one discarded warm-up run. It
prints per mode and policy every repetition's ``cow_ns`` (sum of the harness
latencies of demand faults), the coefficient of variation, max/min, and the
fidelity noise floor (median over runs of |one rep / median of the others - 1|),
plus the per-rep ratio of the policies' ``cow_ns`` to the first policy's and
the session's wall and boot times. Per policy it also prints where the spread
sits: the per-rep median fault and the sum of the excess over it, and how
many faults exceed the median by more than 20 us (outliers, e.g. an interrupt
taken inside the fault, or a refill of the per-CPU free list), and the count
and high of CPU 0's free list as each run starts. ``--pcp-high auto`` boots
with ``kernel.pin_pcp_high=false`` (6.12's own tuning of that list; docs/kernel.md,
"6.12: the per-CPU free lists"). ``--faults-npz`` keeps every run's per-fault ns.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from cowrl.cli import KERNEL_RELEASES, kernel_releases
from cowrl.errors import ConfigError, CowrlError
from cowrl.kernel.backend import run_session
from cowrl.kernel.config import normalise_icount
from cowrl.kernel.jobs import RunRequest
from cowrl.policies.base import Policy
from cowrl.policies.guarded import N_CELLS, GuardedPolicy
from cowrl.policies.static import Baseline, StaticPrecopy
from cowrl.traces.generators import sequential


def policies_from(names: list[str]) -> list[Policy]:
    out: list[Policy] = []
    for n in names:
        if n == "baseline":
            out.append(Baseline())
        elif n == "guarded0":  # a decision at every fault, no copy: baseline's work
            # The calibration's guarded0 (cowrl/calibration/kernel.py): the program's default
            # options (no proofs), not conf/policy/guarded0.yaml (the shipped keys, which
            # under the kernel target's tcg prices is inert: static k = 0, no decision).
            out.append(GuardedPolicy(table=[0] * N_CELLS, name="guarded0"))
        elif n.startswith("precopy") and n[7:].isdigit():
            out.append(StaticPrecopy(int(n[7:]), name=n))
        else:
            raise ConfigError(f"--policies: unknown policy {n!r} (baseline | guarded0 | precopyK)")
    return out


def loo_err(xs: list[float]) -> list[float]:
    """|x_i / median(others) - 1| for every repetition."""
    return [abs(x / float(np.median(xs[:i] + xs[i + 1:])) - 1) for i, x in enumerate(xs)
            if len(xs) > 1]


OWN_TUNING = "the kernel's own (kernel.pin_pcp_high=false)"
OUTLIER_NS = 20_000
"""A fault this much above its run's median counts as an outlier (something else ran in it)."""


def fault_shape(f: np.ndarray) -> dict[str, float]:
    """Where one run's ``cow_ns`` sits: its median fault, the excess over that median summed
    (in ms), the faults more than :data:`OUTLIER_NS` above it and the excess they carry."""
    med = float(np.median(f))
    over = f - med
    out = over > OUTLIER_NS
    return {"median_ns": med, "excess_ms": round(float(over[over > 0].sum()) / 1e6, 3),
            "outliers": int(out.sum()), "outlier_ms": round(float(over[out].sum()) / 1e6, 3)}


def one_mode(mode: str | int, pols: list[Policy], args: argparse.Namespace) -> dict[str, Any]:
    trace = sequential(n_pages=args.pages, name=f"seq{args.pages}")
    order = [pols[(r + j) % len(pols)] for r in range(args.reps) for j in range(len(pols))]
    reqs = [RunRequest(trace=trace, policy=pols[0])]  # warm-up, discarded
    reqs += [RunRequest(trace=trace, policy=p) for p in order]
    cfg: dict[str, Any] = {"icount": mode, "kernel_release": KERNEL_RELEASES[args.release]}
    if args.cpus:
        cfg["cpus"] = args.cpus
    if args.pcp_high == "auto":
        cfg["pin_pcp_high"] = False
    t0 = time.monotonic()
    sess = run_session(reqs, cfg, progress=args.progress)
    wall = time.monotonic() - t0
    recs = sess.records[1:]
    cow: dict[str, list[float]] = {p.name: [] for p in pols}
    faults: dict[str, list[np.ndarray]] = {p.name: [] for p in pols}
    pcp: dict[str, list[tuple[int, int]]] = {p.name: [] for p in pols}
    for p, r in zip(order, recs, strict=True):
        if r.faults != int(r.fault_ns.size) or not r.extra.get("integrity_ok", False):
            raise CowrlError(f"run {p.name}: faults {r.faults}, integrity "
                             f"{r.extra.get('integrity_ok')}")
        cow[p.name].append(float(r.fault_ns.sum()))
        faults[p.name].append(np.asarray(r.fault_ns, dtype=np.int64))
        pcp[p.name].append((int(r.extra.get("pcp_count_at_start", -1)),
                            int(r.extra.get("pcp_high_at_start", -1))))
    stats = {}
    for name, xs in cow.items():
        a = np.asarray(xs)
        stats[name] = {"cow_ms": [round(x / 1e6, 3) for x in xs],
                       "cv": float(a.std(ddof=1) / a.mean()) if a.size > 1 else 0.0,
                       "max_over_min": float(a.max() / a.min()),
                       "loo_median_abs_rel_err": float(np.median(loo_err(xs))),
                       "faults": int(recs[0].faults) if name == pols[0].name else None,
                       "shape": [fault_shape(f) for f in faults[name]],
                       "pcp_at_start": pcp[name]}
    ref = cow[pols[0].name]
    ratios = {n: [round(x / y, 3) for x, y in zip(xs, ref, strict=True)]
              for n, xs in cow.items() if n != pols[0].name}
    x = recs[0].extra
    return {"mode": str(mode), "accel": x.get("accel"), "icount": x.get("icount"),
            "kernel_release": sess.info.get("kernel_release"), "faults_ns": faults,
            "pcp_high": sess.info.get("pcp_high"),
            "clocksource": sess.info.get("clocksource"), "boot_s": sess.info.get("boot_s"),
            "qemu_s": sess.info.get("qemu_s"), "wall_s": round(wall, 1), "stats": stats,
            "ratio_to_" + pols[0].name: ratios}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--modes", default="off,0", help="comma-separated kernel.icount values")
    ap.add_argument("--policies", default="baseline,precopy4")
    ap.add_argument("--pages", type=int, default=4096)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--cpus", type=int, default=None, help="guest vCPUs (default: config's)")
    ap.add_argument("--release", default="6.1",
                    help=f"guest kernel: {' | '.join(KERNEL_RELEASES)} (kernel.release)")
    ap.add_argument("--pcp-high", choices=("pinned", "auto"), default="pinned",
                    help="kernel.pin_pcp_high: pinned (default) or the kernel's own tuning")
    ap.add_argument("--faults-npz", default=None,
                    help="also write every run's per-fault ns here (key mode/policy/rep)")
    ap.add_argument("--json", default=None, help="also write the results here")
    ap.add_argument("--progress", action="store_true")
    args = ap.parse_args(argv)
    if len(kernel_releases(args.release, "--release")) != 1:  # one boot: one kernel
        raise ConfigError(f"--release: one release (6.1 or 6.12), got {args.release!r}")
    pols = policies_from(args.policies.split(","))
    modes = [normalise_icount(m) for m in args.modes.split(",")]
    out = []
    for m in modes:
        try:
            res = one_mode(m, pols, args)
        except CowrlError as e:
            print(f"error: icount={m}: {e}", file=sys.stderr)
            return 2
        out.append(res)
        print(f"\nLinux {res['kernel_release']}, "
              f"icount={res['mode']} (accel {res['accel']}, clock {res['icount']}, "
              f"clocksource {res['clocksource']}): boot {res['boot_s']:.1f} s, "
              f"qemu {res['qemu_s']:.1f} s, session {res['wall_s']:.1f} s; "
              f"pcp high: {res['pcp_high'] or OWN_TUNING}")
        print(f"  {'policy':<10} {'cow_ms per rep':<44} {'CV':>6} {'max/min':>8} "
              f"{'LOO err':>8}")
        for name, s in res["stats"].items():
            print(f"  {name:<10} {str(s['cow_ms']):<44} {s['cv']:6.1%} "
                  f"{s['max_over_min']:8.3f} {s['loo_median_abs_rel_err']:8.1%}")
        print(f"  per rep: median fault ns / excess over it ms / faults > median + "
              f"{OUTLIER_NS // 1000} us (their excess ms)")
        for name, s in res["stats"].items():
            print(f"  {name:<10} " + "  ".join(
                f"{d['median_ns']:.0f}/{d['excess_ms']:.2f}/{d['outliers']}({d['outlier_ms']:.2f})"
                for d in s["shape"]))
        print("  per rep: CPU 0's free list when the run starts (count, high)")
        for name, s in res["stats"].items():
            print(f"  {name:<10} {s['pcp_at_start']}")
        for k, v in res.items():
            if k.startswith("ratio_to_"):
                for n, r in v.items():
                    print(f"  {n}/{k[9:]} per rep: {r}  (spread {max(r) / min(r):.3f})")
    if args.faults_npz:
        np.savez_compressed(args.faults_npz, **{
            f"{r['mode']}/{name}/{i}": f for r in out
            for name, fs in r["faults_ns"].items() for i, f in enumerate(fs)})
    if args.json:
        Path(args.json).write_text(json.dumps(
            [{k: v for k, v in r.items() if k != "faults_ns"} for r in out], indent=1))
    return 0


if __name__ == "__main__":
    from cowrl.cli import run_script

    run_script(main)
