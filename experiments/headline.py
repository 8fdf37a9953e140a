"""The demo's closing headline: adaptive against static on the kernel's traces, in one table.

    python experiments/headline.py outputs/demo/real_kernel outputs/demo/real_sim \\
        outputs/demo/corpus_seed_table1 outputs/demo/corpus_host

Each argument is an ``eval.py`` output directory: its rows are read from ``results.csv``
and its cost model's name from ``results.json``'s ``meta``; nothing is re-run. The main
table is over one trace set, the measured target's (the kernel in the qemu guest,
``experiment=real``; without one, the first run's): every other run must have rows for
each of those traces and is restricted to them, so that every column compares the same
traces. One row per policy (adaptive, static, the oracle where the simulator has it). For
the measured target: the geometric mean over the traces of objective / baseline, the worst
trace, "counts = sim" (the traces whose faults, precopied and wasted pages equal the
simulator's under the same cost model, of those run), and the totals: faults, pages
precopied and wasted, COW time on the critical path per write (total cow_ns / total
writes) and in all. For each simulator run: the geometric mean and the worst trace's ratio.
Then, for the runs over more traces (the simulator over the whole corpus,
``experiment=corpus``), a second table over all of theirs: the geometric mean and the worst
trace. Last, one line per cost model: what a page copied ahead costs against the demand
fault it saves.
"""

from __future__ import annotations

import argparse
import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cowrl.errors import CowrlError
from cowrl.evaluate import relative_objective
from cowrl.metrics import geomean
from cowrl.report import STATIC

# The adaptive policies, the recommended one first (README, "Which adaptive policy to
# deploy"); any other learned policy found in the rows follows them.
ADAPTIVE = ("shield64", "guarded", "bandit", "readahead")
# guarded0 (guarded's program with a table of zeros) is a measuring stick, not a policy.
LEFT_OUT = ("guarded0",)
COUNTS = ("writes", "faults", "precopied", "wasted")
NUMBERS = ("cow_ns", "objective")


@dataclass(eq=False)  # runs.index() finds a run by identity
class Results:
    """One ``eval.py`` output directory: its rows by (policy, workload), target, cost model."""

    path: Path
    target: str
    costmodel: str
    by: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)

    @property
    def measured(self) -> bool:
        return self.target != "sim"

    @property
    def workloads(self) -> list[str]:
        return list(dict.fromkeys(w for _, w in self.by))

    @property
    def policies(self) -> list[str]:
        return list(dict.fromkeys(p for p, _ in self.by))


def _row(f: Path, line: int, raw: dict[str, str | None]) -> dict[str, Any]:
    row: dict[str, Any] = {"policy": raw.get("policy") or "", "workload": raw.get("workload")
                           or "", "target": raw.get("target") or ""}
    for c in ("policy", "workload", "target"):
        if not row[c]:
            raise CowrlError(f"{f}, line {line}: {c} is empty")
    for c in (*COUNTS, *NUMBERS):
        v = raw.get(c) or ""
        try:
            row[c] = int(v) if c in COUNTS else float(v)
        except ValueError:
            raise CowrlError(f"{f}, line {line}: {c} = {v!r} is not "
                             f"{'an integer' if c in COUNTS else 'a number'}") from None
        if row[c] < 0 or row[c] != row[c]:
            raise CowrlError(f"{f}, line {line}: {c} = {v!r} is negative or nan")
    return row


def read_results(d: Path) -> Results:
    """``d/results.csv``'s rows and ``d/results.json``'s cost model; a one-line error naming
    the file when either is missing or malformed, when a policy lacks some of the traces, or
    a trace its baseline."""
    f = d / "results.csv"
    if not f.is_file():
        raise CowrlError(f"{f}: no such file (eval.py writes it: out={d})")
    try:
        with f.open(newline="") as fh:
            reader = csv.DictReader(fh)
            missing = [c for c in ("policy", "workload", "target", *COUNTS, *NUMBERS)
                       if c not in (reader.fieldnames or [])]
            if missing:
                raise CowrlError(f"{f}: no column {missing[0]!r} (not an eval.py results.csv)")
            rows = [_row(f, i + 2, raw) for i, raw in enumerate(reader)]
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise CowrlError(f"{f}: unreadable ({e})") from None
    if not rows:
        raise CowrlError(f"{f}: no rows")
    targets = sorted({r["target"] for r in rows})
    if len(targets) != 1:
        raise CowrlError(f"{f}: rows of several targets ({', '.join(targets)})")
    j = d / "results.json"
    try:
        cm = json.loads(j.read_text()).get("meta", {}).get("costmodel")
    except (OSError, ValueError, AttributeError) as e:
        raise CowrlError(f"{j}: unreadable ({e}); eval.py writes it beside results.csv"
                         ) from None
    if not isinstance(cm, str) or not cm:
        raise CowrlError(f"{j}: no meta.costmodel (the cost model's name)")
    res = Results(d, targets[0], cm)
    for r in rows:
        key = (r["policy"], r["workload"])
        if key in res.by:
            raise CowrlError(f"{f}: two rows for {key[0]} on {key[1]}")
        res.by[key] = r
    ws = res.workloads
    for w in ws:
        if res.by.get(("baseline", w), {}).get("objective", 0) <= 0:
            raise CowrlError(f"{f}: no baseline row with an objective > 0 for {w}")
    for p in res.policies:
        have = [w for w in ws if (p, w) in res.by]
        if len(have) != len(ws):
            raise CowrlError(f"{f}: {p} has rows for {len(have)} of the {len(ws)} traces "
                             f"(not {', '.join(w for w in ws if w not in have)})")
    return res


def policy_order(runs: Sequence[Results]) -> list[tuple[str, str]]:
    """(policy, kind) for the table: the adaptive ones, the static ones, the oracle."""
    found = list(dict.fromkeys(p for r in runs for p in r.policies))
    known = {*ADAPTIVE, *STATIC, "oracle", *LEFT_OUT}
    adaptive = [p for p in ADAPTIVE if p in found] + [p for p in found if p not in known]
    return ([(p, "adaptive") for p in adaptive] + [(p, "static") for p in STATIC if p in found]
            + [("oracle", "oracle")] * ("oracle" in found))


def summary(run: Results, policy: str, sim: Results | None = None) -> dict[str, Any] | None:
    """``policy`` on ``run`` over its traces: ``geomean`` and ``worst`` (objective /
    baseline; the worst with its trace), the totals of :data:`COUNTS` and ``cow_ns``, and
    with ``sim`` (the simulator under the same cost model) ``same``, the traces whose counts
    equal the simulator's, of ``n``. None when ``policy`` has no rows on ``run``."""
    ws = run.workloads
    if (policy, ws[0]) not in run.by:
        return None
    rel = relative_objective(list(run.by.values()))
    ratios = {w: rel[(policy, w)] for w in ws}
    worst = max(ws, key=lambda w: ratios[w])
    rows = [run.by[(policy, w)] for w in ws]
    out: dict[str, Any] = {"geomean": geomean(list(ratios.values())),
                           "worst": (ratios[worst], worst), "n": len(ws),
                           **{c: sum(r[c] for r in rows) for c in (*COUNTS, "cow_ns")}}
    if sim is not None:
        trio = ("faults", "precopied", "wasted")
        out["same"] = sum(1 for w in ws if (policy, w) in sim.by
                          and all(run.by[(policy, w)][c] == sim.by[(policy, w)][c]
                                  for c in trio))
    return out


def pricing_line(name: str) -> str | None:
    """What ``name``'s page copied ahead costs against the demand fault it saves (None for a
    cost model that is not in conf/costmodel)."""
    from cowrl.registry import make_costmodel

    try:
        c = make_costmodel(name)
    except CowrlError:
        return None
    fault = c.fault_ns + c.copy_ns
    saved = fault - c.precopy_ns
    verdict = ("so copying ahead never pays: the best a policy can do is copy nothing (1.000)"
               if saved <= 0 else
               f"so each page copied ahead and then written saves {saved:.0f} ns "
               f"({100 * saved / fault:.0f}% of a fault)")
    return (f"{name}: a demand fault {fault:.0f} ns, a page copied ahead {c.precopy_ns:.0f} ns"
            + (f" (+{c.precopy_setup_ns:.0f} per fault that copies)" if c.precopy_setup_ns
               else "") + f", {verdict}.")


def _table(header: list[str], body: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) if i < 2 else c.rjust(w)
                                 for i, (c, w) in enumerate(zip(cells, widths, strict=True))
                                 ) + " |"
    return [line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|",
            *(line(r) for r in body)]


def restrict(run: Results, traces: Sequence[str], of: Results) -> Results:
    """``run``'s rows on ``traces`` alone (``of``'s traces, the main table's); a one-line
    error naming the trace and ``run``'s directory when ``run`` has no rows for one."""
    missing = [w for w in traces if w not in run.workloads]
    if missing:
        raise CowrlError(f"{run.path}: no rows for trace {missing[0]}, which {of.path} ran "
                         f"(the headline's table is over its traces: {', '.join(traces)}); "
                         "give runs over those traces")
    return Results(run.path, run.target, run.costmodel,
                   {k: v for k, v in run.by.items() if k[1] in traces})


def headline(runs: Sequence[Results]) -> list[str]:
    """The headline's lines. The main table is over one trace set, the measured target's
    (without one, the first run's): every other run is restricted to those traces (it must
    have them all), so each column compares the same traces. Then, for runs over more
    traces (the simulator over the whole corpus), a second table over all of theirs; then
    the legend and the cost models' lines."""
    if not runs:
        raise CowrlError("give at least one eval.py output directory")
    measured = [r for r in runs if r.measured]
    if len(measured) > 1:
        raise CowrlError(f"{measured[1].path / 'results.csv'}: a second measured target "
                         f"(beside {measured[0].path}); give one")
    guest = measured[0] if measured else None
    # The main table's traces and totals: the measured target's, or the first run's.
    main = guest or runs[0]
    traces = main.workloads
    wide = [r for r in runs if len(r.workloads) > len(traces)]
    # Each run's column: target and cost model, and its directory if two runs share them.
    names = [f"{r.target} {r.costmodel}" for r in runs]
    labels = {id(r): n if names.count(n) == 1 else f"{n} ({r.path.name})"
              for n, r in zip(names, runs, strict=True)}
    restricted = [r if r is main else restrict(r, traces, main) for r in runs]
    labels |= {id(x): labels[id(r)] for r, x in zip(runs, restricted, strict=True)}
    runs = restricted
    sims = [r for r in runs if not r.measured]
    twin = next((s for s in sims if guest and s.costmodel == guest.costmodel), None)

    def label(r: Results) -> str:
        """``r``'s column name (``r`` a run as given or restricted to the traces)."""
        return labels[id(r)]

    header = ["policy", "kind"]
    if guest:
        header += [label(guest), "worst trace", "counts = sim"]
    header += [label(s) for s in sims]
    header += ["faults", "precopied", "wasted", "cow ns / write", "COW ms"]
    body = []
    for p, kind in policy_order(runs):
        cells = [p, kind]
        m = summary(main, p, twin if main is guest else None)
        if guest:
            if m is None:
                cells += ["-"] * 3
            else:
                cells += [f"{m['geomean']:.3f}", f"{m['worst'][0]:.3f} {m['worst'][1]}",
                          f"{m['same']}/{m['n']}" if "same" in m else "-"]
        for s in sims:
            v = summary(s, p)
            cells.append("-" if v is None else f"{v['geomean']:.3f} ({v['worst'][0]:.3f})")
        if m is None:
            cells += ["-"] * 5
        else:
            cells += [str(m["faults"]), str(m["precopied"]), str(m["wasted"]),
                      f"{m['cow_ns'] / m['writes']:.0f}" if m["writes"] else "-",
                      f"{m['cow_ns'] / 1e6:.1f}"]
        body.append(cells)
    more = [label(r) for r in wide]
    lines = [f"Headline: adaptive vs static on the {len(traces)} traces {label(main)} ran "
             f"({', '.join(traces)})",
             "  every column over these traces" + (f" ({', '.join(more)}: restricted to them)"
                                                   if more else ""),
             "", *_table(header, body), "",
             f"Objective / baseline (cow_ns + wasted x a page copy's ns), geometric mean over "
             f"the {len(traces)} traces, lower is better; sim: the geometric mean (the worst "
             "trace's ratio). Totals over those traces in "
             f"{label(main)}; cow ns / write = total COW time on the critical path / writes."]
    if guest:
        lines.append(f"counts = sim: traces where {guest.target}'s faults, precopied and "
                     "wasted pages equal the simulator's under the same cost model"
                     + ("" if twin else f" (no sim {guest.costmodel} run given: -)") + ".")
    sets: dict[tuple[str, ...], list[Results]] = {}
    for r in wide:
        sets.setdefault(tuple(r.workloads), []).append(r)
    for ws, group in sets.items():
        header = ["policy", "kind"]
        for r in group:
            header += [label(r), f"worst trace, {label(r)}"]
        body = []
        for p, kind in policy_order(group):
            cells = [p, kind]
            for r in group:
                v = summary(r, p)
                cells += (["-", "-"] if v is None else
                          [f"{v['geomean']:.3f}", f"{v['worst'][0]:.3f} {v['worst'][1]}"])
            body.append(cells)
        extra = [w for w in ws if w not in traces]
        lines += ["", f"The whole corpus, simulator only: {', '.join(label(r) for r in group)} "
                  f"over {len(ws)} traces: the {len(traces)} above and {', '.join(extra)}",
                  "", *_table(header, body), "",
                  f"Objective / baseline, geometric mean over the {len(ws)} traces and the "
                  "worst trace" + (f"; {label(guest)} ran only the {len(traces)} above."
                                   if guest else ".")]
    lines.append("")
    for name in dict.fromkeys(r.costmodel for r in runs):
        line = pricing_line(name)
        if line:
            lines.append(line)
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dirs", nargs="+", type=Path,
                    help="eval.py output directories (results.csv, results.json): at most "
                         "one measured target (kernel), whose traces every other run must "
                         "have; simulator runs, those over more traces tabled again whole")
    args = ap.parse_args(argv)
    print("\n".join(headline([read_results(d) for d in args.dirs])))
    return 0


if __name__ == "__main__":
    from cowrl.cli import run_script

    run_script(main)
