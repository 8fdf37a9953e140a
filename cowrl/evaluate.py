"""``evaluate(cfg) -> dict``: put policies side by side on one target, same metrics on both.

Called by ``eval.py`` (Hydra) and directly by tests.
"""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf

from cowrl.errors import ConfigError
from cowrl.metrics import FIELDS, RunRecord, summarize
from cowrl.policies.base import Policy
from cowrl.registry import make_costmodel, make_policy, make_workload
from cowrl.sim.costmodel import CostModel
from cowrl.sim.simulator import simulate
from cowrl.traces.io import Trace, load_trace

log = logging.getLogger(__name__)


def _names(cfg: DictConfig, key: str) -> list[str]:
    value = cfg.get(key) or []
    if isinstance(value, str):
        value = [value]
    names = [str(v) for v in value]
    if len(set(names)) != len(names):
        raise ConfigError(f"{key}: duplicate names in {names}")
    return names


def load_workloads(cfg: DictConfig) -> list[Trace]:
    """The traces to evaluate: generated workloads first, then trace files."""
    params = cfg.get("workload_params") or {}
    traces = [make_workload(name, seed=int(cfg.seed), **params.get(name, {}))
              for name in _names(cfg, "workloads")]
    traces += [load_trace(p) for p in _names(cfg, "traces")]
    seen: set[str] = set()
    for t in traces:
        if t.name in seen:
            raise ConfigError(f"traces: two workloads are named {t.name!r}; rename a file")
        seen.add(t.name)
    if not traces:
        raise ConfigError(
            "workloads/traces: nothing to evaluate; give workloads=[...] or traces=[...]")
    return traces


def _is_learned(policy: Any) -> bool:
    """A config that is trained (``cowrl.training.TRAINERS``): evaluate its artifact."""
    return getattr(policy, "trainer", None) is not None


def _artifacts(cfg: DictConfig) -> dict[str, Path]:
    """Trained artifacts by policy name: ``checkpoints=[...]`` first, else the latest ones."""
    from cowrl.policies.artifacts import read_artifact

    found: dict[str, Path] = {}
    for path in _names(cfg, "checkpoints"):
        art = read_artifact(path)
        found[art["name"]] = Path(art["_path"])
    return found


def _resolve_learned(name: str, cfg: DictConfig, given: dict[str, Path]) -> Path | None:
    from cowrl.policies.artifacts import find_latest

    if name in given:
        return given[name]
    latest = cfg.get("latest_dir")
    return find_latest(latest, name) if latest else None


def load_policies(cfg: DictConfig) -> list[Policy]:
    """Policies by name; learned ones load their trained artifact (``checkpoints`` or latest).

    With ``policies`` null (the default) this is the adaptive-vs-static comparison:
    every trained policy of ``adaptive`` that has an artifact, then ``references``.
    """
    from cowrl.policies.artifacts import load_policy

    lam = float(cfg["lambda"])
    given = _artifacts(cfg)
    default = cfg.get("policies") is None
    if default:
        names = [str(n) for n in (cfg.get("adaptive") or [])] + [
            str(n) for n in (cfg.get("references") or [])]
        names += [n for n in given if n not in names]
    else:
        names = _names(cfg, "policies")
        names += [n for n in given if n not in names]
    if not names:
        raise ConfigError("policies: give at least one policy name")
    policies: list[Policy] = []
    for name in names:
        policy = make_policy(name, lam=lam) if name not in given else None
        if policy is None or _is_learned(policy):
            path = _resolve_learned(name, cfg, given)
            if path is None:
                if default:
                    log.warning("no trained artifact for %s (python train.py policy=%s); "
                                "left out", name, name)
                    continue
                raise ConfigError(f"policies: no trained artifact for {name!r}; run "
                                  f"python train.py policy={name} or give checkpoints=[DIR]")
            policy = load_policy(path, name=name)
            log.info("%s: artifact %s", name, path)
        policies.append(policy)
    return policies


def run_sim(traces: Sequence[Trace], policies: Sequence[Policy], cost: CostModel, seed: int,
            progress: bool = True) -> list[RunRecord]:
    from tqdm import tqdm

    jobs = [(p, t) for t in traces for p in policies]
    return [simulate(trace, policy, cost, seed=seed)  # type: ignore[misc]
            for policy, trace in tqdm(jobs, desc="sim", unit="run", disable=not progress,
                                      leave=False)]


def run_kernel(traces: Sequence[Trace], policies: Sequence[Policy], cfg: DictConfig,
               cost: CostModel | None = None) -> list[RunRecord]:
    from cowrl.kernel.backend import run_pairs

    pairs: list[tuple[Policy, Trace]] = []
    for p in policies:
        # A policy chosen per workload in simulation (precopy_best) is resolved, then run
        # for real; one that reads the future (the oracle) or has no kernel form is not.
        resolved = [(p.for_trace(t, cost), t) for t in traces] \
            if cost is not None and not p.needs_future else [(p, t) for t in traces]
        try:
            if p.needs_future:
                raise NotImplementedError
            for q, _ in resolved:
                q.kernel_program()
        except NotImplementedError:
            log.warning("policy %s cannot run in the kernel (it reads the future or has no "
                        "kernel form); skipped", p.name)
            continue
        pairs += resolved
    if not pairs:
        raise ConfigError("policies: none of them can run on the kernel target")
    return run_pairs(pairs, cfg.kernel, progress=bool(cfg.progress))


def resolve_costmodel(cfg: DictConfig) -> Any:
    """``costmodel=auto`` (the default) means the target's own, ``target.costmodel``."""
    if cfg.costmodel.get("name") == "auto":
        name = cfg.target.get("costmodel")
        if not name:
            raise ConfigError(f"costmodel: auto, but target {cfg.target.name!r} names none")
        return str(name)
    return cfg.costmodel


def evaluate(cfg: DictConfig) -> dict[str, Any]:
    """Run every (policy, workload) on ``cfg.target.name``; write results and return them."""
    target = str(cfg.target.name)
    cost = make_costmodel(resolve_costmodel(cfg))
    lam = float(cfg["lambda"])
    if lam < 0:
        raise ConfigError(f"lambda must be >= 0, got {lam}")
    traces = load_workloads(cfg)
    policies = load_policies(cfg)
    if target == "sim":
        records = run_sim(traces, policies, cost, int(cfg.seed), bool(cfg.progress))
    elif target == "kernel":
        records = run_kernel(traces, policies, cfg, cost)
    else:
        raise ConfigError(f"target: unknown target {target!r} (sim or kernel)")
    rows = [summarize(r, lam, cost.page_cost_ns) for r in records]
    out = Path(cfg.out) if cfg.get("out") else _hydra_dir()
    out.mkdir(parents=True, exist_ok=True)
    meta = {
        "target": target,
        "costmodel": cost.name,
        "costmodel_provenance": cost.provenance,
        "config": OmegaConf.to_container(cfg, resolve=True),
    }
    write_results(out, rows, meta)
    if cfg.get("plots", True):
        from cowrl.plots import plot_all

        plot_all(out, rows, records)
    print_table(rows)
    result: dict[str, Any] = {"out": str(out), "rows": rows, "meta": meta}
    if cfg.get("report", True):
        from cowrl.report import write_report

        result["report"] = write_report(out, rows, traces, cost, lam, target,
                                        adaptive=[str(n) for n in cfg.get("adaptive") or []])
    log.info("results in %s", out)
    return result


def _hydra_dir() -> Path:
    try:
        from hydra.core.hydra_config import HydraConfig

        return Path(HydraConfig.get().runtime.output_dir)
    except ValueError:
        return Path("outputs/eval")


def write_results(out: Path, rows: list[dict[str, Any]], meta: dict[str, Any]) -> None:
    (out / "results.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1,
                                                 default=_json_default))
    extra = sorted({k for r in rows for k in r} - set(FIELDS))
    with (out / "results.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(FIELDS) + extra)
        w.writeheader()
        w.writerows(rows)


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(type(o).__name__)


def relative_objective(rows: list[dict[str, Any]], reference: str = "baseline"
                       ) -> dict[tuple[str, str], float]:
    """objective / reference policy's objective, per (policy, workload); empty without it."""
    ref = {r["workload"]: r["objective"] for r in rows if r["policy"] == reference}
    return {(r["policy"], r["workload"]): r["objective"] / ref[r["workload"]]
            for r in rows if ref.get(r["workload"])}


def print_table(rows: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    rel = relative_objective(rows)
    table = Table(title=f"COW precopy: {rows[0]['target'] if rows else ''}", show_lines=False)
    for col in ("workload", "policy", "writes", "faults", "precopied", "wasted", "cow ms",
                "fault avg µs", "write p99 µs", "write max µs", "objective", "vs baseline"):
        table.add_column(col, justify="left" if col in ("workload", "policy") else "right")
    for r in sorted(rows, key=lambda r: (r["workload"], r["objective"])):
        table.add_row(
            r["workload"], r["policy"], str(r["writes"]), str(r["faults"]), str(r["precopied"]),
            str(r["wasted"]), f"{r['cow_ns'] / 1e6:.3f}", f"{r['fault_avg_ns'] / 1e3:.2f}",
            f"{r['write_p99_ns'] / 1e3:.2f}", f"{r['write_max_ns'] / 1e3:.2f}",
            f"{r['objective'] / 1e6:.3f}",
            f"{rel[(r['policy'], r['workload'])]:.3f}" if (r["policy"], r["workload"]) in rel
            else "-",
        )
    Console(width=160).print(table)
