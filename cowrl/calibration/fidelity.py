"""How well the simulator predicts the kernel: metrics over paired (sim, kernel) results rows.

Rows are ``results.json`` rows (:func:`cowrl.metrics.summarize`) of the same
policies and workloads on both targets. Used by ``experiments/fidelity.py``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from scipy.stats import kendalltau

COUNTS = ("faults", "precopied", "wasted")


def rel_err(pred: float, meas: float) -> float:
    """Signed relative error of a prediction, ``(pred - meas) / meas`` (nan if ``meas`` is 0)."""
    if meas == 0:
        return 0.0 if pred == 0 else float("nan")
    return (float(pred) - float(meas)) / float(meas)


def explain_counts(sim: dict[str, Any], kern: dict[str, Any]) -> str:
    """Why event counts differ, from what the kernel run reported ('' when they agree)."""
    diffs = [f"{c} sim {sim[c]} vs kernel {kern[c]}" for c in COUNTS if sim[c] != kern[c]]
    if not diffs:
        return ""
    why = []
    if kern.get("precopy_skipped"):
        why.append(f"the module skipped {kern['precopy_skipped']} window pages (not present or "
                   "huge-mapped)")
    if kern.get("unmatched_faults"):
        why.append(f"{kern['unmatched_faults']} module records outside the trace's pages")
    if kern.get("dropped") or kern.get("nmissed"):
        why.append(f"records dropped {kern.get('dropped', 0)}, probe nmissed "
                   f"{kern.get('nmissed', 0)}")
    if kern.get("thp") and not kern.get("thp_backed", True):
        why.append("the hugepage region was not THP-backed")
    return "; ".join(diffs) + (" — " + "; ".join(why) if why else " — unexplained")


def pair_rows(sim_rows: Iterable[dict[str, Any]], kern_rows: Iterable[dict[str, Any]]
              ) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(sim, kernel) row pairs with the same (policy, workload), in the kernel rows' order."""
    sim = {(r["policy"], r["workload"]): r for r in sim_rows}
    return [(sim[(k["policy"], k["workload"])], k) for k in kern_rows
            if (k["policy"], k["workload"]) in sim]


def compare(pairs: Sequence[tuple[dict[str, Any], dict[str, Any]]],
            p99_sim: dict[tuple[str, str], float] | None = None) -> list[dict[str, Any]]:
    """One row per (policy, workload): count agreement and relative errors.

    ``p99_sim`` optionally gives the simulator's write p99 from a run with the
    noise model on (a p99 of expected values cannot show the measured tail).
    """
    out = []
    for s, k in pairs:
        key = (s["policy"], s["workload"])
        p99 = (p99_sim or {}).get(key, s["write_p99_ns"])
        row = {
            "policy": s["policy"], "workload": s["workload"],
            **{f"{c}_sim": int(s[c]) for c in COUNTS},
            **{f"{c}_kernel": int(k[c]) for c in COUNTS},
            "counts_equal": all(int(s[c]) == int(k[c]) for c in COUNTS),
            "counts_note": explain_counts(s, k),
            "cow_ns_sim": float(s["cow_ns"]), "cow_ns_kernel": float(k["cow_ns"]),
            "cow_rel_err": rel_err(s["cow_ns"], k["cow_ns"]),
            "write_p99_sim": float(p99), "write_p99_kernel": float(k["write_p99_ns"]),
            "write_p99_rel_err": rel_err(p99, k["write_p99_ns"]),
            "objective_sim": float(s["objective"]), "objective_kernel": float(k["objective"]),
        }
        if "cow_ns_trimmed" in k:
            row["cow_ns_kernel_trimmed"] = float(k["cow_ns_trimmed"])
            row["cow_rel_err_trimmed"] = rel_err(s["cow_ns"], k["cow_ns_trimmed"])
        out.append(row)
    return out


def tau(a: Sequence[float], b: Sequence[float]) -> float:
    """Kendall tau-b between two score vectors (1.0 for a single item or all ties agreeing)."""
    if len(a) < 2:
        return 1.0
    t = kendalltau(np.asarray(a, dtype=float), np.asarray(b, dtype=float)).statistic
    if np.isnan(t):  # a constant vector: agreement only if both are constant
        return 1.0 if np.ptp(a) == 0 and np.ptp(b) == 0 else 0.0
    return float(t)


def rank_agreement(rows: Sequence[dict[str, Any]], reference: str = "baseline"
                   ) -> dict[str, Any]:
    """Kendall tau of the policy ranking by objective, sim vs kernel.

    ``per_workload``: tau over the policies of each workload. ``overall``: tau
    of the policies ranked by their geometric-mean objective relative to
    ``reference`` over workloads (the suite-level ranking a user would act on);
    ``pooled``: tau over every (policy, workload) objective, which mixes scales.
    """
    by_w: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_w.setdefault(r["workload"], []).append(r)
    per_w = {w: tau([r["objective_sim"] for r in rs], [r["objective_kernel"] for r in rs])
             for w, rs in by_w.items()}
    rel: dict[str, dict[str, list[float]]] = {}
    for _w, rs in by_w.items():
        ref = next((r for r in rs if r["policy"] == reference), None)
        for r in rs:
            d = rel.setdefault(r["policy"], {"sim": [], "kernel": []})
            ds, dk = (ref["objective_sim"], ref["objective_kernel"]) if ref else (1.0, 1.0)
            d["sim"].append(np.log(r["objective_sim"] / ds) if ds else 0.0)
            d["kernel"].append(np.log(r["objective_kernel"] / dk) if dk else 0.0)
    pols = sorted(rel)
    gm_sim = [float(np.mean(rel[p]["sim"])) for p in pols]
    gm_k = [float(np.mean(rel[p]["kernel"])) for p in pols]
    return {
        "per_workload": per_w,
        "mean_per_workload": float(np.mean(list(per_w.values()))) if per_w else float("nan"),
        "overall": tau(gm_sim, gm_k),
        "overall_policy_order_sim": [p for _, p in sorted(zip(gm_sim, pols, strict=False))],
        "overall_policy_order_kernel": [p for _, p in sorted(zip(gm_k, pols, strict=False))],
        "pooled": tau([r["objective_sim"] for r in rows], [r["objective_kernel"] for r in rows]),
    }


def summary(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Headline numbers: median |rel err| of cow_ns and write p99, count agreement."""
    cow = np.abs([r["cow_rel_err"] for r in rows])
    p99 = np.abs([r["write_p99_rel_err"] for r in rows])
    out = {
        "pairs": len(rows),
        "counts_equal": int(sum(r["counts_equal"] for r in rows)),
        "median_abs_cow_rel_err": float(np.nanmedian(cow)) if len(rows) else float("nan"),
        "max_abs_cow_rel_err": float(np.nanmax(cow)) if len(rows) else float("nan"),
        "median_abs_write_p99_rel_err": float(np.nanmedian(p99)) if len(rows) else float("nan"),
    }
    if rows and "cow_rel_err_trimmed" in rows[0]:
        out["median_abs_cow_rel_err_trimmed"] = float(
            np.nanmedian(np.abs([r["cow_rel_err_trimmed"] for r in rows])))
    return out
