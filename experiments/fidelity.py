"""Sim-to-real fidelity: the same policies and traces on target=sim and target=kernel.

    python experiments/fidelity.py [--costmodel tcg] [--n-pages 1024] [--out DIR]
                                   [--target kernel|kernel_sim]

Runs every (policy, workload) in the simulator priced by ``--costmodel`` and on
``--target`` (default ``kernel``: one guest boot; ``kernel_sim`` is the stand-in
that needs no guest, for testing), then reports per pair: exact agreement of
faults/precopied/wasted, relative error of ``cow_ns`` and ``write_p99_ns``,
and the Kendall tau of the policy ranking by objective (per workload and
overall). The default workloads are ones the calibration (sequential traces)
did not use. Writes ``fidelity.json``, ``fidelity.csv`` and
``predicted_vs_measured.png`` into ``--out``; ``--reuse DIR`` re-analyses
kernel records saved by an earlier run without booting.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import pickle
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from cowrl.calibration.fidelity import compare, pair_rows, rank_agreement, summary
from cowrl.calibration.fit import trim_outliers
from cowrl.calibration.kernel import events_for
from cowrl.errors import ConfigError, CowrlError
from cowrl.kernel.backend import median_of_repeats
from cowrl.metrics import RunRecord, summarize
from cowrl.policies.base import Policy
from cowrl.policies.static import StaticPrecopy
from cowrl.registry import group_config, make_costmodel, make_policy, make_workload
from cowrl.sim.costmodel import PARAM_FIELDS, CostModel, NoiseModel
from cowrl.targets import Plan, Target, make_target
from cowrl.targets.sim import SimTarget
from cowrl.traces.io import Trace

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_WORKLOADS = ["stride", "random", "interleaved", "phased"]
REP = "@rep"
DEFAULT_POLICIES = ["baseline", "precopy", "precopy4", "fault_around", "hugepage"]


def make_traces(names: list[str], n_pages: int, seed: int) -> list[Trace]:
    """Workloads from ``conf/workload`` resized to ``n_pages`` (write counts scaled alike)."""
    out = []
    for name in names:
        cfg = group_config("workload", name, "workloads")
        params: dict[str, Any] = {"n_pages": n_pages}
        base = int(cfg.get("n_pages", n_pages))
        for f in ("writes", "touched"):
            if cfg.get(f) is not None:
                params[f] = max(1, int(cfg[f]) * n_pages // base)
        out.append(make_workload(name, seed=seed, **params))
    return out


def make_policies(names: list[str], lam: float) -> list[Policy]:
    """Policy names from ``conf/policy``, plus ``precopyK`` for a static degree K."""
    out: list[Policy] = []
    for name in names:
        m = re.fullmatch(r"precopy(\d+)", name)
        out.append(StaticPrecopy(int(m.group(1)), name=name) if m else make_policy(name, lam))
    return out


def measured_target(args: argparse.Namespace) -> Target:
    """``--target`` built from ``conf/target``, with ``--kernel-cpus``/``--icount`` applied."""
    kcfg = dict(group_config("kernel", "qemu", "kernel"))
    if args.kernel_cpus:
        kcfg["cpus"] = args.kernel_cpus
    if args.icount is not None:
        kcfg["icount"] = args.icount
    target = make_target(args.target, kernel=kcfg)
    if not isinstance(target, Target) or not target.write_latencies:
        raise CowrlError(f"--target {args.target}: fidelity needs a target that replays "
                         "traces and times every write (kernel, kernel_sim)")
    return target


def kernel_records(traces: list[Trace], policies: list[Policy], args: argparse.Namespace,
                   cost: CostModel, target: Target | None = None
                   ) -> tuple[list[RunRecord], dict[str, Any], list[Any]]:
    """Runs of every (policy, workload) x reps on ``--target``, plus, with
    ``--same-session``, the calibration design in the same session (runs interleaved).
    Returns the fidelity records, session info and the calibration (record, run) pairs."""
    if args.reuse:
        path = Path(args.reuse) / "kernel_records.pkl"
        try:
            with open(path, "rb") as f:
                saved = pickle.load(f)
            records, info = saved["records"], saved["info"]
        except FileNotFoundError:
            raise ConfigError(f"--reuse: no {path} (an earlier run's --out holds it)") from None
        except (OSError, EOFError, pickle.UnpicklingError, KeyError, TypeError) as e:
            raise ConfigError(f"--reuse: {path} is not a fidelity run's records ({e!r})"
                              ) from None
        return records, {**info, "reused_from": str(args.reuse)}, saved.get("calibration", [])
    t0 = time.monotonic()
    from cowrl.calibration.config import KernelBenchConfig
    from cowrl.calibration.kernel import design, interleave

    target = target if target is not None else measured_target(args)
    reps = [Trace(t.pages, t.n_pages, name=f"{t.name}{REP}{r}", meta=t.meta)
            for r in range(args.reps) for t in traces]
    order = interleave(reps, policies)  # policies rotate, so load drift hits them all alike
    cal_order = (design(KernelBenchConfig(region_pages=[args.n_pages], reps=2))[2]
                 if args.same_session else [])
    # Calibration runs spread evenly among the fidelity runs: both see the same drift.
    tagged = [(i * (len(order) + 1) / (len(cal_order) + 1), "c", r)
              for i, r in enumerate(cal_order, 1)] + [(i, "f", r) for i, r in enumerate(order)]
    tagged.sort(key=lambda x: x[0])
    runs = [r for _, _, r in tagged]
    # Repetitions are the @rep traces above (interleaved with the calibration runs), so
    # the target runs each once; median_rep_rows takes the median as the target would.
    allrecs = target.run(Plan(runs, cost, seed=args.seed, repeats=1, progress=True))
    info: dict[str, Any] = {
        "backend": (f"{target.name} (module + harness, one boot)" if target.measured
                    else f"FAKE ({target.name}, simulator stand-in): not a measurement"),
        "target": target.describe(), "commit": git_commit(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    recs = [r for (_, tag, _), r in zip(tagged, allrecs, strict=True) if tag == "f"]
    cal = [(r, run) for (_, tag, run), r in zip(tagged, allrecs, strict=True) if tag == "c"]
    info.update(reps=args.reps, order="interleaved (rep, workload, rotated policies)",
                same_session_calibration_runs=len(cal),
                wall_s=round(time.monotonic() - t0, 1))
    return recs, info, cal


def trimmed_cow(rec: RunRecord, factor: float, windows: np.ndarray | None = None) -> float:
    """``cow_ns`` without the faults above ``factor`` x the median of their kind: faults with
    the same window (``windows``: pages precopied at each fault, from the simulator's events,
    which the kernel's equal) when given and of the run's length, else all the run's faults.
    Without windows an adaptive policy's few large windows (readahead on phased: 326 faults,
    ~40 of them 50x a 1-page fault) are the outliers, and trimming them reported +133% error."""
    f = np.asarray(rec.fault_ns, dtype=np.float64)
    if not f.size:
        return 0.0
    ref = np.full(f.shape, np.median(f))
    if windows is not None and windows.size == f.size:
        for w in np.unique(windows):
            ref[windows == w] = np.median(f[windows == w])
    return float(f[trim_outliers(f, ref, factor)].sum())


def sim_windows(traces: list[Trace], policies: list[Policy]) -> dict[tuple[str, str], np.ndarray]:
    """Pages precopied at each demand fault, per (policy, workload), from the simulator."""
    return {key: ev.precopied for key, (_, ev) in
            events_for([(p, t) for t in traces for p in policies]).items()}


def median_rep_rows(recs: list[RunRecord], lam: float, page_cost_ns: float,
                    trim_factor: float,
                    windows: dict[tuple[str, str], np.ndarray] | None = None
                    ) -> list[dict[str, Any]]:
    """One kernel row per (policy, workload): the repetition with the median ``cow_ns``
    (:func:`cowrl.kernel.backend.median_of_repeats`, as the kernel target keeps it).

    Every repetition's ``cow_ns`` and objective are kept in the row (``cow_ns_reps``,
    ``objective_reps``, in repetition order), and ``cow_ns_trimmed`` is the median
    over the repetitions of ``cow_ns`` without the run's outliers (:func:`trimmed_cow`, by
    window size where ``windows`` has the run's (policy, workload)).
    """
    groups: dict[tuple[str, str], list[RunRecord]] = {}
    for r in sorted(recs, key=lambda r: int(r.workload.partition(REP)[2] or 0)):
        groups.setdefault((r.policy, r.workload.partition(REP)[0]), []).append(r)
    out = []
    for reps in groups.values():
        rows = [summarize(r, lam, page_cost_ns) for r in reps]
        med = summarize(median_of_repeats(reps), lam, page_cost_ns)
        med["workload"], _, rep = med["workload"].partition(REP)
        med["rep"] = int(rep or 0)
        med.pop("repeats_cow_ns", None)
        med["cow_ns_reps"] = sorted(x["cow_ns"] for x in rows)
        med["objective_reps"] = [x["objective"] for x in rows]
        win = (windows or {}).get((med["policy"], med["workload"]))
        med["cow_ns_trimmed"] = float(np.median([trimmed_cow(r, trim_factor, win)
                                                 for r in reps]))
        out.append(med)
    return out


def sim_predictions(traces: list[Trace], policies: list[Policy], cost: CostModel,
                    args: argparse.Namespace) -> tuple[list[dict[str, Any]],
                                                       dict[tuple[str, str], float]]:
    """Simulator rows (noise off) and the write p99 with the fitted noise on."""
    sim = SimTarget()
    runs = [(p, t) for p in policies for t in traces]
    recs = sim.run(Plan(runs, cost, seed=args.seed))
    rows = [summarize(r, args.lam, cost.page_cost_ns) for r in recs]
    p99 = {}
    if cost.noise.sigma > 0:
        noisy = dataclasses.replace(cost, noise=NoiseModel("lognormal", cost.noise.sigma))
        for r in sim.run(Plan(runs, noisy, seed=args.seed)):
            r2 = summarize(r, args.lam, cost.page_cost_ns)
            p99[(r2["policy"], r2["workload"])] = r2["write_p99_ns"]
    return rows, p99


def same_session(cal: list[Any], traces: list[Trace], policies: list[Policy],
                 kern_rows: list[dict[str, Any]], args: argparse.Namespace,
                 cost: CostModel) -> dict[str, Any]:
    """Fit the cost model on the calibration runs of this very boot and predict again.

    Separates model error from drift of TCG timings between sessions (the
    shipped tcg.yaml was measured in another boot, under other host load).
    """
    from cowrl.calibration.kernel import fit_kernel

    res = fit_kernel([r for r, _ in cal], [run for _, run in cal], args.trim_factor)
    p = res["params"]
    # The shipped model with the parameters fitted in this session (its THP model kept).
    cm = dataclasses.replace(cost, **{f: p.get(f) or 0.0 for f in PARAM_FIELDS},
                             decide_program_ns=p.get("decide_program_ns") or {},
                             noise=NoiseModel("none", p["sigma"]), name="same-session",
                             provenance={})
    sim_rows, p99 = sim_predictions(traces, policies, cm, args)
    rows = compare(pair_rows(sim_rows, kern_rows), p99 or None)
    return {"params": p, "fit_r2": res["fits"]["faults"]["r2"], "summary": summary(rows),
            "kendall_tau": rank_agreement(rows),
            "median_signed_cow_rel_err_by_policy": {
                q: round(float(np.median([r["cow_rel_err"] for r in rows if r["policy"] == q])), 3)
                for q in sorted({r["policy"] for r in rows})}}


def noise_floor(kern_rows: list[dict[str, Any]]) -> dict[str, Any]:
    """How well the kernel predicts itself: the limit any cost model is held to.

    ``rep_median_abs_rel_err``: median over runs of |cow_ns of a repetition /
    median of the other repetitions - 1|. ``rep_tau_mean``: mean Kendall tau
    between the policy rankings of two repetitions of the same workload.
    """
    from cowrl.calibration.fidelity import tau

    errs = []
    for r in kern_rows:
        reps = r.get("cow_ns_reps", [])
        for i, c in enumerate(reps):
            others = reps[:i] + reps[i + 1:]
            if others:
                errs.append(abs(c / float(np.median(others)) - 1))
    taus = []
    by_w: dict[str, list[dict[str, Any]]] = {}
    for r in kern_rows:
        by_w.setdefault(r["workload"], []).append(r)
    for rs in by_w.values():
        n = min(len(r.get("objective_reps", [])) for r in rs)
        for a in range(n):
            for b in range(a + 1, n):
                taus.append(tau([r["objective_reps"][a] for r in rs],
                                [r["objective_reps"][b] for r in rs]))
    return {"rep_median_abs_rel_err": float(np.median(errs)) if errs else float("nan"),
            "rep_tau_mean": float(np.mean(taus)) if taus else float("nan")}


def run(args: argparse.Namespace, target: Target | None = None) -> dict[str, Any]:
    """The experiment: ``target`` (default: ``--target``) against the simulator."""
    cost = make_costmodel(args.costmodel)
    traces = make_traces(args.workloads, args.n_pages, args.seed)
    policies = make_policies(args.policies, args.lam)
    if args.same_session and not args.reuse:  # its design, checked before out/ and the boot
        from cowrl.calibration.config import KernelBenchConfig

        try:
            KernelBenchConfig(region_pages=[args.n_pages], reps=2)
        except ConfigError as e:  # it named kernel_bench.region_pages, no option of this script
            raise ConfigError(f"--n-pages {args.n_pages}: the same-session calibration runs "
                              f"on regions of --n-pages pages ({e}); give more, or "
                              "--no-same-session") from None
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    krecs, info, cal = kernel_records(traces, policies, args, cost, target)
    if not args.reuse:
        with open(out / "kernel_records.pkl", "wb") as f:
            pickle.dump({"records": krecs, "info": info, "calibration": cal}, f)
    sim_rows, p99_noisy = sim_predictions(traces, policies, cost, args)
    kern_rows = median_rep_rows(krecs, args.lam, cost.page_cost_ns, args.trim_factor,
                                sim_windows(traces, policies))
    rows = compare(pair_rows(sim_rows, kern_rows), p99_noisy or None)
    ranks = rank_agreement(rows)
    head = summary(rows)
    head.update(noise_floor(kern_rows))
    same = None
    if cal:
        same = same_session(cal, traces, policies, kern_rows, args, cost)
    by_policy = {}
    for p in sorted({r["policy"] for r in rows}):
        e = [r["cow_rel_err"] for r in rows if r["policy"] == p]
        by_policy[p] = round(float(np.median(e)), 3)
    result = {
        "costmodel": cost.name, "commit": git_commit(),
        "costmodel_provenance_source": cost.provenance.get("source"),
        "workloads": [t.name for t in traces], "n_pages": args.n_pages,
        "policies": [p.name for p in policies], "lambda": args.lam, "kernel": info,
        "kernel_release": krecs[0].extra.get("kernel_release") if krecs else None,
        "accel": krecs[0].extra.get("accel") if krecs else None,
        "icount": krecs[0].extra.get("icount", "unknown") if krecs else None,
        "costmodel_clock": cost.provenance.get("clock", "unknown"),
        "summary": head, "kendall_tau": ranks,
        "median_signed_cow_rel_err_by_policy": by_policy,
        "goals": {"median_abs_cow_rel_err<=0.15": head["median_abs_cow_rel_err"] <= 0.15,
                  "tau_overall>=0.8": ranks["overall"] >= 0.8,
                  "tau_mean_per_workload>=0.8": ranks["mean_per_workload"] >= 0.8},
        "same_session_calibration": same,
        "rows": rows,
    }
    (out / "fidelity.json").write_text(json.dumps(result, indent=1, default=float))
    with (out / "fidelity.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    plot(out / "predicted_vs_measured.png", rows, cost.name, result)
    print_report(result)
    print(f"wrote {out}/fidelity.json, fidelity.csv, predicted_vs_measured.png")
    return result


def git_commit(root: Path = ROOT) -> str:
    """Short commit of the checkout at ``root``, ``+dirty`` if tracked files changed;
    ``unknown`` without git."""
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, timeout=10, check=True)
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain",
                                "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def guest_clock(result: dict[str, Any]) -> bool:
    """Whether the kernel's ns are guest instructions (qemu -icount), not wall time."""
    return (result.get("kernel", {}).get("target", {}).get("measured", True)
            and str(result.get("icount")).startswith("shift"))


def figure_title(result: dict[str, Any]) -> str:
    """Two lines over the figure: what was compared (cost model, kernel, clock, repetitions,
    commit, date) and the headline numbers of :func:`run`'s ``result``."""
    k = result.get("kernel", {})
    if k.get("target", {}).get("measured", True):
        kern = (f"kernel {result.get('kernel_release')} ({result.get('accel')}, "
                f"icount {result.get('icount')}"
                + ("; 1 guest ns = 1 instruction)" if guest_clock(result) else ")"))
    else:
        kern = f"{k.get('target', {}).get('target', '?')} (FAKE: simulator stand-in, not measured)"
    commit = result.get("commit", "unknown")
    rec_commit = k.get("commit")
    if rec_commit and rec_commit != commit:
        commit += f", kernel records from {rec_commit}"
    s, t = result["summary"], result["kendall_tau"]
    return (f"sim (costmodel={result['costmodel']}) vs {kern}; median of {k.get('reps', '?')} "
            f"reps; commit {commit}; {k.get('date', 'date unknown')}\n"
            f"event counts equal {s['counts_equal']}/{s['pairs']}; median |rel err| cow_ns "
            f"{s['median_abs_cow_rel_err']:.1%} (max {s['max_abs_cow_rel_err']:.1%}), write p99 "
            f"{s['median_abs_write_p99_rel_err']:.1%}; Kendall tau overall {t['overall']:.2f}, "
            f"mean per workload {t['mean_per_workload']:.2f}")


def plot(path: Path, rows: list[dict[str, Any]], cm: str, result: dict[str, Any]) -> Any:
    """Predicted against measured ``cow_ns`` and write p99 (log-log, grey band ±15%), and the
    signed ``cow_ns`` error per pair, which is too small to see on the first panel. Saved to
    ``path``; returns the (closed) matplotlib figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    fig, axes = plt.subplots(1, 3, figsize=(16, 5.4), width_ratios=[1, 1, 0.9])
    pols = sorted({r["policy"] for r in rows})
    wls = sorted({r["workload"] for r in rows})
    markers = "osD^vP*X"
    clock = "guest " if guest_clock(result) else ""
    panels = [("cow_ns_sim", "cow_ns_kernel", "total COW time (cow_ns)", 1e6, f"{clock}ms"),
              ("write_p99_sim", "write_p99_kernel", "per-write p99", 1e3, f"{clock}µs")]
    for n, (ax, (ks, kk, title, div, unit)) in enumerate(zip(axes, panels, strict=False)):
        v = [r[k] / div for r in rows for k in (ks, kk) if r[k] > 0]
        lo, hi = min(v) / 1.5, max(v) * 1.5
        ax.fill_between([lo, hi], [lo * 0.85, hi * 0.85], [lo * 1.15, hi * 1.15], color="0.9",
                        zorder=0)
        ax.plot([lo, hi], [lo, hi], "k-", lw=0.8, zorder=1)
        for i, p in enumerate(pols):
            for j, w in enumerate(wls):
                rs = [r for r in rows if r["policy"] == p and r["workload"] == w]
                if rs:
                    ax.scatter([rs[0][kk] / div], [rs[0][ks] / div], color=f"C{i}",
                               marker=markers[j % len(markers)], s=40, alpha=0.8, zorder=2,
                               label=p if (j == 0 and n == 0) else None)
        ax.set(xscale="log", yscale="log", xlim=(lo, hi), ylim=(lo, hi),
               xlabel=f"measured on kernel ({unit})",
               ylabel=f"predicted by sim, costmodel={cm} ({unit})", title=title)
        for a in (ax.xaxis, ax.yaxis):
            a.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
            a.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}"))
            a.set_minor_formatter(NullFormatter())
    axes[0].legend(fontsize=8, title="policy", loc="upper left")
    for j, w in enumerate(wls):
        axes[1].scatter([], [], color="k", marker=markers[j % len(markers)], label=w)
    axes[1].legend(fontsize=8, title="workload", loc="upper left")
    ax = axes[2]
    for i, p in enumerate(pols):
        for j, w in enumerate(wls):
            rs = [r for r in rows if r["policy"] == p and r["workload"] == w]
            if rs:
                ax.scatter([j + (i - (len(pols) - 1) / 2) * 0.12], [rs[0]["cow_rel_err"] * 100],
                           color=f"C{i}", marker=markers[j % len(markers)], s=40, zorder=2)
    ax.axhline(0, color="k", lw=0.8, zorder=1)
    ax.set(xticks=range(len(wls)), xlim=(-0.6, len(wls) - 0.4),
           ylabel="(sim - kernel) / kernel (%)", title="signed error of cow_ns per pair")
    ax.set_xticklabels(wls)
    fig.suptitle(figure_title(result) + " (grey band: ±15%)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return fig


def print_report(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    rows = result["rows"]
    t = Table(title=f"fidelity: sim (costmodel={result['costmodel']}) vs kernel "
                    f"({result['kernel_release']}, {result['accel']}, "
                    f"icount {result.get('icount')})")
    for c in ("workload", "policy", "faults s/k", "precopied s/k", "wasted s/k", "cow ms sim",
              "cow ms kern", "cow err", "cow err trim", "p99 µs sim", "p99 µs kern", "p99 err"):
        t.add_column(c, justify="left" if c in ("workload", "policy") else "right")
    for r in sorted(rows, key=lambda r: (r["workload"], r["policy"])):
        t.add_row(r["workload"], r["policy"], f"{r['faults_sim']}/{r['faults_kernel']}",
                  f"{r['precopied_sim']}/{r['precopied_kernel']}",
                  f"{r['wasted_sim']}/{r['wasted_kernel']}",
                  f"{r['cow_ns_sim'] / 1e6:.2f}", f"{r['cow_ns_kernel'] / 1e6:.2f}",
                  f"{r['cow_rel_err']:+.1%}", f"{r.get('cow_rel_err_trimmed', float('nan')):+.1%}",
                  f"{r['write_p99_sim'] / 1e3:.1f}", f"{r['write_p99_kernel'] / 1e3:.1f}",
                  f"{r['write_p99_rel_err']:+.1%}")
    con = Console(width=170)
    con.print(t)
    for r in rows:
        if r["counts_note"]:
            con.print(f"counts differ: {r['policy']} on {r['workload']}: {r['counts_note']}")
    s, k = result["summary"], result["kendall_tau"]
    con.print(f"event counts equal in {s['counts_equal']}/{s['pairs']} pairs")
    con.print(f"median |rel err| cow_ns: {s['median_abs_cow_rel_err']:.1%} (max "
              f"{s['max_abs_cow_rel_err']:.1%}; with kernel outliers trimmed: "
              f"{s.get('median_abs_cow_rel_err_trimmed', float('nan')):.1%}); "
              f"write_p99: {s['median_abs_write_p99_rel_err']:.1%}")
    if np.isnan(s["rep_median_abs_rel_err"]):  # --reps 1: nothing to compare
        con.print("kernel vs itself (repetitions): none to compare (--reps 1)")
    else:
        con.print(f"kernel vs itself (repetitions): median |rel err| cow_ns "
                  f"{s['rep_median_abs_rel_err']:.1%}, mean Kendall tau {s['rep_tau_mean']:.2f}")
    con.print("Kendall tau per workload: " + ", ".join(
        f"{w} {v:.2f}" for w, v in k["per_workload"].items()))
    con.print(f"Kendall tau overall (policies by geo-mean objective vs baseline): "
              f"{k['overall']:.2f}; mean per workload {k['mean_per_workload']:.2f}; pooled "
              f"{k['pooled']:.2f}")
    con.print(f"  order sim:    {k['overall_policy_order_sim']}")
    con.print(f"  order kernel: {k['overall_policy_order_kernel']}")
    con.print(f"median signed cow_ns rel err by policy: "
              f"{result['median_signed_cow_rel_err_by_policy']}")
    con.print(f"goals: {result['goals']}")
    ss = result.get("same_session_calibration")
    if ss:
        con.print(f"same-session calibration ({ss['params']}): median |rel err| cow_ns "
                  f"{ss['summary']['median_abs_cow_rel_err']:.1%}, tau overall "
                  f"{ss['kendall_tau']['overall']:.2f}, mean per workload "
                  f"{ss['kendall_tau']['mean_per_workload']:.2f}; by policy "
                  f"{ss['median_signed_cow_rel_err_by_policy']}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--costmodel", default="tcg", help="conf/costmodel name for the simulator")
    ap.add_argument("--workloads", nargs="+", default=DEFAULT_WORKLOADS)
    ap.add_argument("--policies", nargs="+", default=DEFAULT_POLICIES,
                    help="conf/policy names, or precopyK for static degree K")
    ap.add_argument("--n-pages", type=int, default=1024)
    ap.add_argument("--lambda", dest="lam", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--trim-factor", type=float, default=10.0,
                    help="for the diagnostic cow_ns without kernel outliers (x run median)")
    ap.add_argument("--target", default="kernel",
                    help="conf/target name measured: kernel (default), or kernel_sim, the "
                         "simulator standing in for the kernel (pipeline test only)")
    ap.add_argument("--reps", type=int, default=3,
                    help="kernel runs per (policy, workload) in the boot; the median is compared")
    ap.add_argument("--same-session", action=argparse.BooleanOptionalAction, default=True,
                    help="also run the calibration design in the same boot and report the "
                         "fidelity of a model fitted there (separates model error from drift)")
    ap.add_argument("--kernel-cpus", type=int, default=None,
                    help="guest vCPUs (default: the kernel config's)")
    ap.add_argument("--icount", default=None,
                    help="kernel.icount for the boot (off | auto | shift N; default: the "
                         "config's, 0 = deterministic instruction-count time)")
    ap.add_argument("--reuse", default=None,
                    help="directory of an earlier run: re-analyse its kernel records, no boot")
    ap.add_argument("--out", default="outputs/fidelity")
    args = ap.parse_args(argv)
    if args.n_pages <= 0:
        ap.error("--n-pages must be positive")
    if args.reps <= 0:
        ap.error("--reps must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    try:
        run(parse_args(argv))
    except CowrlError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    from cowrl.cli import run_script

    run_script(main)
