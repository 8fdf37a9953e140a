"""``DIR/report.md``: the winner per workload and the adaptive policies' targets.

Targets (issue 4), checked per adaptive policy, separately on each group of
workloads: the training suite, the held-out workloads (``heldout_*``) and the
trace files (``traces=[...]``):

1. per workload, objective <= 1.05 x the best static policy for that workload
   (baseline, precopy k=1, precopy_best, hugepage, fault_around);
2. geometric mean of the objective at least 15% below the best *single*
   static policy applied to every workload (every fixed k, hugepage);
3. at least 80% of the oracle's gain over baseline (summed over workloads;
   the mean of per-workload fractions is printed too);
4. on uniform-random workloads, wasted <= 5% of the pages precopied.

Then issue #10's generalization targets (:func:`generalization_targets`: the
protocol's own check, :func:`cowrl.generalization.check_targets`), per adaptive
policy and group, where the run has baseline's, ``precopy_best``'s and the
oracle's rows: no workload above 1.02 x baseline, within 1.10 x the best fixed k
on every workload, a geometric-mean gain of at least 60% of the oracle's, and at
most 1% of the pages precopied wasted on uniform random and sparse workloads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cowrl.generalization import TARGETS, UNIFORM_OR_SPARSE, family_of
from cowrl.generalization import check_targets as protocol_targets
from cowrl.metrics import geomean
from cowrl.sim.costmodel import CostModel
from cowrl.traces.io import Trace

STATIC = ("baseline", "precopy", "precopy_best", "hugepage", "fault_around")
# guarded0 (guarded's program with a table of zeros) measures guarded's decision bound: a
# reference, never judged against the targets.
REFERENCE = (*STATIC, "readahead", "oracle", "guarded0")


def single_static_objectives(traces: Sequence[Trace], cost: CostModel, lam: float
                             ) -> dict[str, dict[str, float]]:
    """objective of every fixed degree (and hugepage) on every workload, in simulation."""
    from cowrl.policies.best_static import BestStatic
    from cowrl.policies.static import HugePage
    from cowrl.sim.simulator import cow_objective

    out: dict[str, dict[str, float]] = {}
    bs = BestStatic(lam=lam)
    for t in traces:
        for k, obj in bs.objectives(t, cost).items():
            out.setdefault(f"k={k}", {})[t.name] = obj
        out.setdefault("hugepage", {})[t.name] = cow_objective(t, HugePage(), cost, lam)
    return out


def _winner_table(workloads: Sequence[str], policies: Sequence[str],
                  by: Mapping[tuple[str, str], dict[str, Any]]) -> list[str]:
    """Markdown rows: per workload the winner and every policy's objective / baseline."""
    lines = ["| workload | winner | " + " | ".join(policies) + " |",
             "|---|---|" + "---|" * len(policies)]
    for w in workloads:
        base = by.get(("baseline", w), {}).get("objective")
        cands = [(by[(p, w)]["objective"], p) for p in policies
                 if (p, w) in by and p != "oracle"]
        winner = min(cands)[1] if cands else "-"
        ties = [p for o, p in cands if cands and o <= min(cands)[0] * 1.001]
        label = winner if len(ties) == 1 else (
            "tie: " + ", ".join(ties) if len(ties) <= 3 else f"tie ({len(ties)} policies)")
        cells = []
        for p in policies:
            r = by.get((p, w))
            if r is None:
                cells.append("-")
            else:
                v = r["objective"] / base if base else r["objective"]
                cells.append(f"**{v:.3f}**" if p == winner else f"{v:.3f}")
        lines.append(f"| {w} | {label} | " + " | ".join(cells) + " |")
    return lines


def check_targets(rows: list[dict[str, Any]], policy: str, workloads: Sequence[str],
                  singles: dict[str, dict[str, float]] | None) -> dict[str, Any]:
    by = {(r["policy"], r["workload"]): r for r in rows}
    ws = [w for w in workloads if (policy, w) in by]
    if not ws:
        return {}
    res: dict[str, Any] = {"workloads": len(ws)}
    worst, misses = 0.0, []
    for w in ws:
        statics = [by[(p, w)]["objective"] for p in STATIC if (p, w) in by]
        if not statics:
            continue
        ratio = by[(policy, w)]["objective"] / min(statics)
        worst = max(worst, ratio)
        if ratio > 1.05:
            misses.append(f"{w} ({ratio:.3f})")
    res["per_workload_worst_vs_best_static"] = worst
    res["per_workload_ok"] = not misses
    res["per_workload_misses"] = misses
    if singles:
        geo_pol = geomean([by[(policy, w)]["objective"] for w in ws])
        best_name, best_geo = min(((n, geomean([v[w] for w in ws])) for n, v in singles.items()),
                                  key=lambda x: x[1])
        res["best_single_static"] = best_name
        res["geomean_improvement_vs_best_single"] = 1.0 - geo_pol / best_geo
        res["geomean_ok"] = res["geomean_improvement_vs_best_single"] >= 0.15
    if all(("baseline", w) in by and ("oracle", w) in by for w in ws):
        gain = sum(by[("baseline", w)]["objective"] - by[(policy, w)]["objective"] for w in ws)
        ogain = sum(by[("baseline", w)]["objective"] - by[("oracle", w)]["objective"]
                    for w in ws)
        fracs = [(by[("baseline", w)]["objective"] - by[(policy, w)]["objective"])
                 / (by[("baseline", w)]["objective"] - by[("oracle", w)]["objective"])
                 for w in ws if by[("baseline", w)]["objective"]
                 - by[("oracle", w)]["objective"] > 0.01 * by[("baseline", w)]["objective"]]
        # Below 1% of the baseline the oracle's gain is no yardstick: a share of it
        # would be noise in a tiny denominator (-3000% for a policy 4% worse).
        base = sum(by[("baseline", w)]["objective"] for w in ws)
        res["oracle_gain_frac"] = ogain / base if base > 0 else float("nan")
        if ogain > 0.01 * base:
            res["oracle_gain_captured"] = gain / ogain
            res["oracle_gain_captured_mean"] = (sum(fracs) / len(fracs) if fracs
                                                else float("nan"))
            res["oracle_ok"] = gain / ogain >= 0.8
    rnd = [w for w in ws if "random" in w]
    if rnd:
        waste = {w: (by[(policy, w)]["wasted"] / by[(policy, w)]["precopied"]
                     if by[(policy, w)]["precopied"] else 0.0) for w in rnd}
        res["random_waste_frac"] = waste
        res["random_waste_ok"] = all(v <= 0.05 for v in waste.values())
    return res


GROUP_TITLES = {"suite": "Training suite", "held-out": "Held-out workloads (never trained on)",
                "other": "Other workloads (conf/workload)",
                "traces": "Trace files (traces=[...])"}


def _group_of(name: str) -> str:
    return "held-out" if name.startswith("heldout_") else "suite"


def measured_vs_sim(rows: list[dict[str, Any]], sim_rows: list[dict[str, Any]],
                    decide: Mapping[str, tuple[str, float]]) -> list[str]:
    """The measured target's rows beside the simulator's, as markdown lines.

    Per (workload, policy): objective / baseline measured and simulated, the event counts
    and whether they equal the simulator's, and for a policy that decides at run time
    (``decide``: policy name -> (its module program, the cost model's price of one of its
    decisions)) the issue's bound "baseline plus the decision cost", *modelled* =
    (baseline + price x baseline's faults) / baseline, and *measured* = the objective of
    the same program with a table of zeros (the policy named ``<program>0``: ``guarded0``,
    ``table0``) on the same trace and target / baseline; last, whether a GUARDED program's
    decision tallies (the module's ``guard_*`` counters: why windows were or were not granted)
    equal the simulator's.
    """
    sim = {(r["policy"], r["workload"]): r for r in sim_rows}
    by = {(r["policy"], r["workload"]): r for r in rows}
    lines = ["| workload | policy | obj / baseline | sim obj / baseline | faults | precopied "
             "| wasted | counts = sim | bound modelled | bound measured | cow_ns / write "
             "| write p99 ns | tallies = sim |", "|" + "---|" * 13]
    for r in rows:
        w, p = r["workload"], r["policy"]
        base, sbase = by.get(("baseline", w)), sim.get(("baseline", w))
        s = sim.get((p, w))
        rel = f"{r['objective'] / base['objective']:.3f}" if base else "-"
        srel = f"{s['objective'] / sbase['objective']:.3f}" if s and sbase else "-"
        counts = [r[c] for c in ("faults", "precopied", "wasted")]
        scounts = [s[c] for c in ("faults", "precopied", "wasted")] if s else None
        same = ("-" if scounts is None else "yes" if counts == scounts
                else "no (sim " + "/".join(str(c) for c in scounts) + ")")
        modelled = measured = ""
        if base and p in decide:
            prog, ns = decide[p]
            modelled = f"{(base['objective'] + ns * base['faults']) / base['objective']:.3f}"
            zero = by.get((f"{prog}0", w))
            measured = f"{zero['objective'] / base['objective']:.3f}" if zero else "-"
        lines.append(f"| {w} | {p} | {rel} | {srel} | {counts[0]} | {counts[1]} | {counts[2]} "
                     f"| {same} | {modelled} | {measured} | {r['cow_ns'] / r['writes']:.0f} "
                     f"| {r['write_p99_ns']:.0f} | {_tallies_same(r, s)} |")
    return lines


def tally_diff(r: Mapping[str, Any], s: Mapping[str, Any] | None
               ) -> list[tuple[str, int, int]] | None:
    """The GUARDED decision tallies (``guard_<key>``) of a measured row ``r`` that differ from
    its simulator row ``s``'s, as (key, measured, simulated); None where either row has none
    (the simulator's: not a compiled GUARDED program; the kernel target's rows carry zeros
    then)."""
    from cowrl.sim.programs import GUARD_TALLY_KEYS

    pairs = [(k, r.get(f"guard_{k}"), s.get(f"guard_{k}") if s else None)
             for k in GUARD_TALLY_KEYS]
    if any(v in (None, "") or w in (None, "") for _, v, w in pairs):
        return None
    return [(k, int(v), int(w)) for k, v, w in pairs if int(v) != int(w)]


def _tallies_same(r: Mapping[str, Any], s: Mapping[str, Any] | None) -> str:
    """"yes" if the GUARDED decision tallies of a measured row equal its simulator row's,
    "no: " and the tallies that differ, "-" where either row has none (:func:`tally_diff`)."""
    diff = tally_diff(r, s)
    if diff is None:
        return "-"
    return "yes" if not diff else "no: " + ", ".join(f"{k} {v} (sim {w})" for k, v, w in diff)


def ceiling_section(traces: Sequence[Trace], cost: CostModel, lam: float,
                    learned: Sequence[str], by: Mapping[tuple[str, str], dict[str, Any]]
                    ) -> list[str]:
    """Markdown lines: per workload its safe ceiling (:func:`cowrl.policies.ceiling.safe_ceiling`,
    the lowest objective / baseline any policy meeting the safety target on every trace can
    have on it), the first fault at which such a policy may copy, and each learned policy's
    share of the ceiling's gain."""
    from cowrl.policies.ceiling import safe_ceiling

    lines = ["## What the safety target allows", "",
             "Safe ceiling: the lowest objective / baseline any precopy policy can have on the "
             "workload while costing at most 1.02 x baseline on every prefix of it, as it must "
             "to be safe on every trace; it sees the future (docs/policies.md, \"The safe "
             "ceiling\"). Cells: each learned policy's gain as a share of the ceiling's.", "",
             "| workload | safe ceiling | first copy allowed at fault | "
             + " | ".join(learned) + " |", "|---|---|---|" + "---|" * len(learned)]
    for t in traces:
        c = safe_ceiling(t, cost, lam)
        base = by.get(("baseline", t.name), {}).get("objective", c.baseline)
        cells = []
        for p in learned:
            r = by.get((p, t.name))
            gain = None if r is None or not base else 1 - r["objective"] / base
            cells.append("-" if gain is None or 1 - c.ratio < 0.01
                         else f"{gain / (1 - c.ratio):.2f}")
        first = "-" if c.first_fault_saved < 0 else str(c.first_fault_saved)
        lines.append(f"| {t.name} | {c.ratio:.3f} | {first} | " + " | ".join(cells) + " |")
    return lines


def generalization_targets(rows: list[dict[str, Any]], policy: str, workloads: Sequence[str],
                           family: Mapping[str, str]) -> dict[str, Any]:
    """Issue #10's targets (:data:`cowrl.generalization.TARGETS`) for ``policy`` over
    ``workloads``, by :func:`cowrl.generalization.check_targets` (the protocol's own check),
    plus ``within`` (traces within the near-best bound) and ``n``; ``{}`` unless every
    workload has the policy's row and baseline's, ``precopy_best``'s and the oracle's.
    ``family`` maps a workload to its generator family (the waste target's key)."""
    by = {(r["policy"], r["workload"]): r for r in rows}
    need = (policy, "baseline", "precopy_best", "oracle")
    if not workloads or any((q, w) not in by for q in need for w in workloads):
        return {}
    grows = []
    for w in workloads:
        obj, base = by[(policy, w)]["objective"], by[("baseline", w)]["objective"]
        grows.append({"trace": w, "family": family.get(w, w), "ratio": obj / base,
                      "vs_best": obj / by[("precopy_best", w)]["objective"],
                      "oracle_ratio": by[("oracle", w)]["objective"] / base,
                      "precopied": by[(policy, w)]["precopied"],
                      "wasted": by[(policy, w)]["wasted"]})
    c = protocol_targets(grows)
    c["within"] = sum(r["vs_best"] <= TARGETS["near_best"] for r in grows)
    c["n"] = len(grows)
    return c


def generalization_section(checks: Mapping[str, dict[str, Any]]) -> list[str]:
    """Markdown lines: :func:`generalization_targets` per ``policy/group`` key."""
    def ok(flag: bool | None) -> str:
        return "" if flag is None else (" ✓" if flag else " ✗")

    lines = ["## Generalization targets (issue #10)", "",
             f"On traces not trained on: no trace above {TARGETS['safety']:.2f} x baseline; "
             f"within {TARGETS['near_best']:.2f} x the best fixed k in hindsight "
             f"(`precopy_best`) on every trace; a geometric-mean gain over baseline of at least "
             f"{TARGETS['gain_share']:.0%} of the oracle's; on uniform random and sparse traces "
             f"({', '.join(UNIFORM_OR_SPARSE)}) at most {TARGETS['waste']:.0%} of the pages "
             "precopied wasted. Checked here on this run's workloads, trained on or not "
             "(`experiments/generalization.py` holds each family and application out).", "",
             f"| policy / workloads | safety: worst x baseline (<= {TARGETS['safety']:.2f}) | "
             f"near best: worst x best fixed k (<= {TARGETS['near_best']:.2f}) | gain (share "
             f"of the oracle's, >= {TARGETS['gain_share']:.2f}) | waste on random / sparse "
             f"(<= {TARGETS['waste']:.0%}) |", "|---|---|---|---|---|"]
    for key, c in checks.items():
        share = ("n/a: the oracle gains < 1%" if c["gain_share"] is None
                 else f"{c['gain_share']:.2f}")
        waste = "-" if c["waste"] is None else f"{100 * c['waste']:.1f}%{ok(c['ok_waste'])}"
        lines.append(
            f"| {key} | {c['safety']:.3f}{ok(c['ok_safety'])} ({c['safety_trace']}) | "
            f"{c['near_best']:.3f}{ok(c['ok_near_best'])} ({c['near_best_trace']}; "
            f"{c['within']}/{c['n']} within) | {100 * c['gain']:+.2f}% ({share})"
            f"{ok(c['ok_gain_share'])} | {waste} |")
    return lines


def near_best_misses(rows: list[dict[str, Any]], policy: str, workloads: Sequence[str],
                     break_even: float) -> list[dict[str, Any]]:
    """Where ``policy`` (a GUARDED program: its rows carry ``guard_*`` tallies) is above
    ``TARGETS["near_best"]`` x the best fixed k: per such workload its decision tallies and a
    reading of them. ``break_even``: the share of copies that must be written for precopy
    to pay (:meth:`CostModel.page_prices`: loss / (gain + loss)). The reading, first that
    applies: ``little asked`` (the table asked windows, past the floor, at under 5% of the
    faults), ``below break-even`` (under ``break_even`` of its copies were written),
    ``budget-bound`` (the budget refused at least half the windows asked past the floor,
    though the copies it allowed paid), else ``smaller windows``. ``[]`` unless every
    workload has the policy's row with its tallies and ``precopy_best``'s (a row that copied
    pages with no window tallied is not a GUARDED program's: the kernel target's zeros)."""
    by = {(r["policy"], r["workload"]): r for r in rows}
    out = []
    for w in workloads:
        r, best = by.get((policy, w)), by.get(("precopy_best", w))
        if r is None or best is None or r.get("guard_asked") in (None, ""):
            return []
        if int(r["precopied"]) and not (int(r["guard_windows"])
                                        + int(r.get("guard_sib_windows") or 0)):
            return []  # zeros a measured target carries for a program that is not GUARDED
        vs_best = float(r["objective"]) / float(best["objective"])
        if vs_best <= TARGETS["near_best"]:
            continue
        faults, asked = int(r["faults"]), int(r["guard_asked"])
        past_floor = asked - int(r["guard_floor"])
        refused = int(r["guard_refused"])
        copied, wasted = int(r["precopied"]), int(r["wasted"])
        used = 1.0 - wasted / copied if copied else None
        if past_floor < 0.05 * faults:
            reading = "little asked"
        elif used is not None and used < break_even:
            reading = "below break-even"
        elif refused >= 0.5 * past_floor:
            reading = "budget-bound"
        else:
            reading = "smaller windows"
        out.append({"trace": w, "vs_best": vs_best, "best_k": best.get("best_k"),
                    "faults": faults, "asked": past_floor, "refused": refused,
                    "windows": int(r["guard_windows"]), "precopied": copied, "used": used,
                    "reading": reading})
    return out


def misses_section(misses: Mapping[str, list[dict[str, Any]]], break_even: float) -> list[str]:
    """Markdown lines: :func:`near_best_misses` per ``policy/group`` key."""
    lines = ["## Where the budget stood on the near-best misses", "",
             f"Each trace where a GUARDED policy is above {TARGETS['near_best']:.2f} x the best "
             "fixed k, with its decision tallies (`guard_*` in results.csv): faults; windows "
             "the table asked past the floor; how many of those the risk budget refused; "
             f"windows opened; pages copied and the share written later (a copy pays when at "
             f"least {break_even:.1%} are). Reading, first that applies: *little asked* (the "
             "table asked at under 5% of the faults: no context it knows predicted a write "
             "ahead, as in fills in random order); *below break-even* (its copies were written "
             "too rarely: windows longer than the runs they met, as in block/gap writes); "
             "*budget-bound* (the budget refused at least half of the windows asked, though "
             "the copies it allowed paid: the budget's slow start, or copies written after the "
             "proof ring gave them up, so never credited); else *smaller windows* "
             "(docs/policies.md, \"Reading the near-best misses\").", "",
             "| policy / workloads | trace | x best fixed k (k) | faults | asked | refused | "
             "windows | copied (written) | reading |", "|---|---|---|---|---|---|---|---|---|"]
    for key, rows in misses.items():
        for m in rows:
            used = "-" if m["used"] is None else f"{m['used']:.1%}"
            lines.append(
                f"| {key} | {m['trace']} | {m['vs_best']:.3f} ({m['best_k']}) | "
                f"{m['faults']:,} | {m['asked']:,} | {m['refused']:,} | {m['windows']:,} | "
                f"{m['precopied']:,} ({used}) | {m['reading']} |")
    return lines


def foreign_prices_note(cost: str, calibrated: str, target: str) -> str:
    """One line: the run priced the budgets with ``cost``, not ``target``'s own model."""
    return (f"**Prices not calibrated on this target.** The adaptive policies' budgets were "
            f"priced by `{cost}`; the cost model calibrated on {target} is `{calibrated}` "
            f"(`costmodel=auto`). Their bound holds in the prices they are given, not in "
            f"this machine's: where a copy ahead costs more here than `{cost}` says, they can "
            f"cost more than baseline plus the decisions (docs/policies.md, \"Calibration "
            f"error: when the prices are wrong\").")


def write_report(out: Path, rows: list[dict[str, Any]], traces: Sequence[Trace],
                 cost: CostModel, lam: float, target: str, adaptive: Sequence[str] = (),
                 groups: Mapping[str, str] | None = None, simulated: bool = True,
                 sim_rows: list[dict[str, Any]] | None = None,
                 decide: Mapping[str, tuple[str, float]] | None = None,
                 calibrated: str | None = None) -> dict[str, Any]:
    """Write ``out/report.md``: a winner table per workload group, then the targets.

    ``groups`` maps a workload to ``suite``, ``held-out``, ``other`` or ``traces``
    (rows of trace files); without it, ``heldout_*`` are held out and the rest the suite.
    ``simulated``: the rows were priced by ``cost``, so the geomean target can
    compare them with every single static policy simulated with it. ``sim_rows`` (a
    measured target's runs simulated under ``cost``) adds the section of
    :func:`measured_vs_sim` (``decide`` as there); ``calibrated``, the cost model calibrated
    on that target, and the section says so when ``cost`` is another one.
    """
    policies = list(dict.fromkeys(r["policy"] for r in rows))
    workloads = [t.name for t in traces]
    group = {w: (groups or {}).get(w) or _group_of(w) for w in workloads}
    by = {(r["policy"], r["workload"]): r for r in rows}
    learned = [p for p in policies if p in adaptive or p not in REFERENCE]
    lines = [f"# COW precopy: adaptive vs static ({target})", "",
             f"Cost model `{cost.name}`, lambda = {lam}. Objective = cow_ns + lambda * wasted * "
             "page_cost_ns; the tables give objective / baseline (lower is better). "
             "Workloads named `heldout_*` were never trained on.", ""]
    splits = {g: [w for w in workloads if group[w] == g] for g in GROUP_TITLES}
    splits = {g: ws for g, ws in splits.items() if ws}
    for g, ws in splits.items():
        if len(splits) > 1:
            lines += [f"## {GROUP_TITLES[g]}", ""]
        lines += _winner_table(ws, policies, by) + [""]
    lines.append("Winner: lowest objective among deployable policies (the oracle, which reads "
                 "the future, is shown but never named winner); policies within 0.1% tie.")
    # Only the adaptive policies' targets need them (nine more replays of every trace).
    singles = single_static_objectives(traces, cost, lam) if simulated and learned else None
    checks: dict[str, Any] = {}
    for p in learned:
        for split, ws in splits.items():
            c = check_targets(rows, p, ws, singles)
            if not c:
                continue
            checks[f"{p}/{split}"] = c
    if checks:
        lines += ["", "## Targets", "",
                  "| policy / workloads | worst vs best static (<= 1.05) | geomean gain vs best "
                  "single static (>= 15%) | oracle gain captured (>= 80%) | random waste "
                  "(<= 5%) |", "|---|---|---|---|---|"]
        for key, c in checks.items():
            def ok(flag: str, c: dict[str, Any] = c) -> str:
                return "" if flag not in c else (" ✓" if c[flag] else " ✗")
            geo = (f"{100 * c['geomean_improvement_vs_best_single']:.1f}% vs "
                   f"{c['best_single_static']}{ok('geomean_ok')}"
                   if "geomean_improvement_vs_best_single" in c else "-")
            if "oracle_gain_captured" in c:
                orc = (f"{100 * c['oracle_gain_captured']:.1f}% (mean "
                       f"{100 * c['oracle_gain_captured_mean']:.1f}%){ok('oracle_ok')}")
            elif "oracle_gain_frac" in c:
                orc = f"n/a: the oracle gains {100 * c['oracle_gain_frac']:.2f}% (< 1%)"
            else:
                orc = "-"
            rw = (", ".join(f"{w}: {100 * v:.1f}%" for w, v in c["random_waste_frac"].items())
                  + ok("random_waste_ok")) if "random_waste_frac" in c else "-"
            worst = f"{c['per_workload_worst_vs_best_static']:.3f}{ok('per_workload_ok')}"
            if c["per_workload_misses"]:
                worst += " (" + ", ".join(c["per_workload_misses"]) + ")"
            lines.append(f"| {key} | {worst} | {geo} | {orc} | {rw} |")
    shown = lines[-(len(checks) + 2):] if checks else []
    family = {t.name: family_of(t) for t in traces}
    general = {f"{p}/{split}": c for p in learned for split, ws in splits.items()
               if (c := generalization_targets(rows, p, ws, family))}
    if general:
        section = generalization_section(general)
        lines += ["", *section]
        shown += ["", *section[-(len(general) + 2):]]
    gain, loss = cost.page_prices(lam, "guarded")
    break_even = loss / (gain + loss) if gain + loss > 0 else 1.0
    misses = {f"{p}/{split}": m for p in learned for split, ws in splits.items()
              if (m := near_best_misses(rows, p, ws, break_even))}
    if misses:
        lines += ["", *misses_section(misses, break_even)]
    if simulated and learned:
        lines += ["", *ceiling_section(traces, cost, lam, learned, by)]
    if sim_rows is not None:
        lines += ["", f"## {target} vs the simulator (`{cost.name}`)", "",
                  "counts = sim: faults, precopied and wasted pages equal the simulator's; "
                  "bound = baseline plus the decision cost, modelled (the cost model's price "
                  "of a decision at each of baseline's faults) and measured (the same program "
                  "with a table of zeros on this trace and target); cow_ns / write: the COW "
                  "time on the critical path per write; tallies = sim: a GUARDED program's "
                  "decision tallies (asked, held by the floor, refused by the budget and why, "
                  "windows, pages, sentinels hit and missed, the budget's flow in ns: `guard_*` "
                  "in results.csv) equal the simulator's.", ""]
        if calibrated and calibrated != cost.name:
            lines += [foreign_prices_note(cost.name, calibrated, target), ""]
        section = measured_vs_sim(rows, sim_rows, decide or {})
        lines += section
        shown += ["", *section]
    path = out / "report.md"
    path.write_text("\n".join(lines) + "\n")
    print("\n".join(shown))
    return {"path": str(path), "targets": checks}
