"""Trace files on the kernel target beside the simulator: counts, tallies and the decision bound.

    python experiments/novel_patterns.py --round 2 --draws 2 --save /tmp/nk/traces
    flock /work/wt/qemu.lock python eval.py target=kernel [kernel.release=6.12] \\
        [costmodel=seed_table1] "traces=[$(ls /tmp/nk/traces/*.npz | paste -sd, -)]" \\
        'workloads=[]' 'policies=[baseline,guarded,shield64,readahead,precopy,guarded0]' \\
        out=DIR progress=false plots=false
    python experiments/novel_kernel.py DIR [DIR ...] [--tolerance 0.002] [--json OUT]

Each DIR is an ``eval.py`` output directory of a measured target (``results.json``). The
simulator replays the same (policy, trace) runs under the run's cost model (its ``config``:
the trace files, policies, lambda, seed and layout, as ``eval.py`` built them), and per run
this prints:

* whether the event counts equal the simulator's: demand faults, pages precopied, pages
  wasted, and window pages the precopy walk stepped over already private (the module's
  ``precopy_skipped``, the simulator's ``SimEvents.skipped``);
* whether a GUARDED program's decision tallies (the module's ``guard_*`` counters, ABI 18:
  asked, floor, refused and why, windows, budget flow) equal the simulator's (``-`` where the
  simulator compiles no GUARDED program: baseline, static policies, an inert ``guarded``);
* objective / baseline measured and simulated, and for a policy that decides at run time the
  issue's bound "baseline plus the decision cost": *modelled* (the cost model's price of one
  decision at each of baseline's faults, as ``report.md`` has it) and *measured* (the same
  program with a table of zeros, ``guarded0``, when the run has it). The issue's target is
  about the budgeted policies (``--bounded``, default ``guarded,shield64``): one of them is
  **over** when its objective / baseline exceeds the larger bound by more than
  ``--tolerance`` (default 0.005, about the measurement's spread: baseline's own decisions,
  an inert ``guarded`` under ``tcg``, measure 0.98-1.00 x baseline on small traces). An inert
  one (it decides nothing under the run's prices: ``guarded`` under ``tcg``) has the bound
  1.000 (baseline; no decision to pay). ``readahead``'s bound is shown, never flagged: it has
  no budget.

Then one table per trace across the runs and the totals (``n/n``). A mismatch is listed with
its trace, policy and the differing fields; the exit status is 0 either way (a measurement).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cowrl.errors import ConfigError  # noqa: E402

COUNTS = ("faults", "precopied", "wasted", "skipped")
"""The event counts compared (``skipped``: the kernel rows' ``precopy_skipped``)."""
TOLERANCE = 0.005
BOUNDED = ("guarded", "shield64")
"""The policies the issue's bound is about (a run-time budget)."""


@dataclass
class Check:
    """One (trace, policy) of one run, measured against the simulator."""

    workload: str
    policy: str
    ratio: float
    """Measured objective / measured baseline."""
    sim_ratio: float | None
    counts: dict[str, int]
    sim_counts: dict[str, int] | None
    tallies_same: bool | None
    """None where either side has no GUARDED tallies."""
    tally_diff: list[str] = field(default_factory=list)
    bound_modelled: float | None = None
    bound_measured: float | None = None
    over: bool = False

    @property
    def counts_same(self) -> bool | None:
        return None if self.sim_counts is None else self.counts == self.sim_counts

    def mismatch(self) -> str:
        """'' when the counts and tallies equal the simulator's, else what differs."""
        out = []
        if self.sim_counts is None:
            out.append("no simulator row")
        elif self.counts != self.sim_counts:
            out += [f"{c} {self.counts[c]} (sim {self.sim_counts[c]})" for c in COUNTS
                    if self.counts[c] != self.sim_counts[c]]
        if self.tallies_same is False:
            out += self.tally_diff
        return ", ".join(out)


def _counts(row: Mapping[str, Any]) -> dict[str, int]:
    skipped = row["skipped"] if "skipped" in row else row.get("precopy_skipped", 0)
    return {"faults": int(row["faults"]), "precopied": int(row["precopied"]),
            "wasted": int(row["wasted"]), "skipped": int(skipped)}


def _tallies(row: Mapping[str, Any], sim: Mapping[str, Any] | None
             ) -> tuple[bool | None, list[str]]:
    """Whether the GUARDED tallies equal the simulator's (None where either row has none), and
    those that differ (``cowrl.report.tally_diff``, as report.md's "tallies = sim")."""
    from cowrl.report import tally_diff

    diff = tally_diff(row, sim)
    if diff is None:
        return None, []
    return not diff, [f"guard_{k} {v} (sim {w})" for k, v, w in diff]


def compare(rows: Sequence[Mapping[str, Any]], sim_rows: Sequence[Mapping[str, Any]],
            decide: Mapping[str, float], tolerance: float = TOLERANCE,
            bounded: Sequence[str] = BOUNDED, zero: str = "guarded0") -> list[Check]:
    """Per measured row (in its order) a :class:`Check` against the simulator row of the same
    (workload, policy). ``decide``: the policies that decide at run time -> the cost model's
    price of one decision (ns); ``bounded``: the policies flagged over their bound (one of them
    not in ``decide``, inert, has the bound 1.0); ``zero``: the policy whose runs measure the
    decisions alone."""
    sim = {(r["workload"], r["policy"]): r for r in sim_rows}
    by = {(r["workload"], r["policy"]): r for r in rows}
    out = []
    for r in rows:
        w, p = r["workload"], r["policy"]
        base, sbase, s = by.get((w, "baseline")), sim.get((w, "baseline")), sim.get((w, p))
        if base is None:
            raise ConfigError(f"results: no baseline row for workload {w!r} (the ratios and "
                              "the bound need one)")
        ratio = float(r["objective"]) / float(base["objective"])
        sratio = float(s["objective"]) / float(sbase["objective"]) if s and sbase else None
        same, diff = _tallies(r, s)
        c = Check(w, p, ratio, sratio, _counts(r), _counts(s) if s else None, same, diff)
        if p in decide:
            c.bound_modelled = (float(base["objective"]) + decide[p] * int(base["faults"])) \
                / float(base["objective"])
            z = by.get((w, zero))
            c.bound_measured = float(z["objective"]) / float(base["objective"]) if z else None
        elif p in bounded:
            c.bound_modelled = 1.0
        if p in bounded:
            bound = max(b for b in (c.bound_modelled, c.bound_measured) if b is not None)
            c.over = ratio > bound + tolerance
        out.append(c)
    return out


def load_run(d: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The rows and meta of an ``eval.py`` output directory."""
    f = d / "results.json" if d.is_dir() else d
    if not f.is_file():
        raise ConfigError(f"{f}: no results.json (an eval.py out= directory)")
    data = json.loads(f.read_text())
    if not data.get("rows") or "config" not in data.get("meta", {}):
        raise ConfigError(f"{f}: not eval.py results (rows and meta.config)")
    return data["rows"], data["meta"]


def simulate_rows(rows: Sequence[Mapping[str, Any]], meta: Mapping[str, Any]
                  ) -> tuple[list[dict[str, Any]], dict[str, float]]:
    """The simulator's rows of the runs of ``rows`` (as ``eval.py`` builds their policies and
    traces from ``meta``'s config, under its cost model), each with ``skipped``; and the
    deciding policies' price of one decision."""
    from omegaconf import OmegaConf

    from cowrl.evaluate import load_policies, load_workloads
    from cowrl.metrics import summarize
    from cowrl.registry import make_costmodel
    from cowrl.sim.simulator import decides, simulate

    cfg = OmegaConf.create(dict(meta["config"]))
    cost = make_costmodel(meta["costmodel"])
    lam = float(cfg.get("lambda") or 0.0)
    seed = int(cfg.get("seed") or 0)
    shared = cfg.get("layout") == "one_address"
    traces = {t.name: t for t in load_workloads(cfg)[0]}
    policies = {p.name: p for p in load_policies(cfg)}
    out = []
    for r in rows:
        t, p = traces[r["workload"]], policies[r["policy"]]
        rec, ev = simulate(t, p, cost, seed=seed, record_events=True, shared=shared)
        out.append({**summarize(rec, lam, cost.page_cost_ns), "skipped": int(ev.skipped.sum())})
    decide = {n: cost.decide_cost(p.decide_program) for n, p in policies.items()
              if decides(p.deployed_under(cost))}
    return out, decide


def label(rows: Sequence[Mapping[str, Any]], meta: Mapping[str, Any]) -> str:
    """'<kernel release> / <cost model>' of a run."""
    rel = sorted({str(r.get("kernel_release", "")) for r in rows} - {""})
    return f"{','.join(rel) or meta.get('target', '?')} / {meta['costmodel']}"


def _f(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def run_table(name: str, checks: Sequence[Check], bounded: Sequence[str] = BOUNDED
              ) -> list[str]:
    """Markdown lines: one run's checks and its totals."""
    lines = [f"## {name}", "",
             "| trace | policy | obj / baseline | sim | faults | precopied | wasted | skipped "
             "| counts = sim | tallies = sim | bound modelled | bound measured | over |",
             "|" + "---|" * 13]
    for c in checks:
        k = c.counts
        same = {None: "-", True: "yes", False: "**no**"}
        lines.append(
            f"| {c.workload} | {c.policy} | {c.ratio:.4f} | {_f(c.sim_ratio)} | {k['faults']} "
            f"| {k['precopied']} | {k['wasted']} | {k['skipped']} | {same[c.counts_same]} "
            f"| {same[c.tallies_same]} | {_f(c.bound_modelled)} | {_f(c.bound_measured)} "
            f"| {'**over**' if c.over else ''} |")
    lines += ["", *totals(checks, bounded)]
    return lines


def totals(checks: Sequence[Check], bounded: Sequence[str] = BOUNDED) -> list[str]:
    """The run's sums: counts = sim n/n, tallies = sim n/n, rows over the bound, mismatches."""
    cs = [c for c in checks if c.counts_same is not None]
    ts = [c for c in checks if c.tallies_same is not None]
    bs = [c for c in checks if c.policy in bounded]
    lines = [f"counts = sim: {sum(bool(c.counts_same) for c in cs)}/{len(checks)}; "
             f"tallies = sim: {sum(bool(c.tallies_same) for c in ts)}/{len(ts)}; "
             f"{'/'.join(bounded)} over the bound: {sum(c.over for c in bs)}/{len(bs)}"]
    bad = [c for c in checks if c.mismatch()]
    lines += [f"- MISMATCH {c.workload} {c.policy}: {c.mismatch()}" for c in bad]
    lines += [f"- OVER {c.workload} {c.policy}: {c.ratio:.4f} > bound "
              f"{_f(c.bound_modelled)} / {_f(c.bound_measured)}" for c in bs if c.over]
    return lines


def cross_table(runs: Sequence[tuple[str, Sequence[Check]]], policies: Sequence[str]
                ) -> list[str]:
    """Markdown lines: per trace, each policy's objective / baseline in each run."""
    head = [f"{p} {n}" for n, _ in runs for p in policies]
    lines = ["| trace | " + " | ".join(head) + " |", "|---|" + "---|" * len(head)]
    cell = {(n, c.workload, c.policy): c for n, cs in runs for c in cs}
    traces = list(dict.fromkeys(c.workload for _, cs in runs for c in cs))
    for w in traces:
        vals = []
        for n, _ in runs:
            for p in policies:
                c = cell.get((n, w, p))
                vals.append("-" if c is None else f"{c.ratio:.3f}" + ("!" if c.over else ""))
        lines.append(f"| {w} | " + " | ".join(vals) + " |")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dirs", type=Path, nargs="+", help="eval.py out= directories")
    ap.add_argument("--tolerance", type=float, default=TOLERANCE,
                    help="a row is over the bound beyond it (objective / baseline)")
    ap.add_argument("--bounded", default=",".join(BOUNDED),
                    help="the policies held to the bound (comma-separated)")
    ap.add_argument("--policies", default="guarded,shield64,readahead,precopy",
                    help="columns of the per-trace table")
    ap.add_argument("--json", type=Path, default=None, help="write every check here")
    args = ap.parse_args(argv)
    if args.tolerance < 0:
        raise ConfigError(f"--tolerance: must be at least 0, got {args.tolerance}")
    bounded = [p for p in args.bounded.split(",") if p]
    runs: list[tuple[str, list[Check]]] = []
    for d in args.dirs:
        rows, meta = load_run(d)
        sim_rows, decide = simulate_rows(rows, meta)
        checks = compare(rows, sim_rows, decide, args.tolerance, bounded)
        name = label(rows, meta)
        runs.append((name, checks))
        print("\n".join(run_table(f"{name} ({d})", checks, bounded)) + "\n", flush=True)
    print("\n".join(["## Objective / baseline per trace (! = over the bound)", "",
                     *cross_table(runs, args.policies.split(","))]))
    every = [c for _, cs in runs for c in cs]
    print("\n" + "\n".join(["## All runs", "", totals(every, bounded)[0]]))
    if args.json is not None:
        args.json.write_text(json.dumps(
            [{"run": n, **vars(c)} for n, cs in runs for c in cs], indent=1))
    return 0


if __name__ == "__main__":
    from cowrl.cli import run_script

    run_script(main)
