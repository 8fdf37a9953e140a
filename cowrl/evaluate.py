"""``evaluate(cfg) -> dict``: put policies side by side on one target, same metrics on both.

Called by ``eval.py`` (Hydra) and directly by tests.
"""

from __future__ import annotations

import csv
import glob
import json
import logging
import os
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf

from cowrl.cli import output_dir
from cowrl.errors import ConfigError, bool_field, int_field, names_field, number_field
from cowrl.metrics import FIELDS, summarize
from cowrl.policies.base import Policy
from cowrl.registry import make_costmodel, make_policy, make_workload, workload_params
from cowrl.sim.costmodel import CostModel
from cowrl.targets.base import Plan, Run, Target, layout_field, make_target
from cowrl.traces.io import Trace, load_trace

log = logging.getLogger(__name__)


SCHEMA = "eval_schema"


def register_configs() -> None:
    """Register ``eval_schema`` (``conf/eval.yaml``'s first default) in Hydra's ConfigStore.

    Hydra composes in struct mode, where an override may only set keys that
    exist; ``workload_params`` is keyed by workload name, so the schema gives it
    a node that accepts new keys: ``workload_params.seq.n_pages=1024`` works
    without ``+``. Idempotent; called by ``eval.py`` and the tests' compose.
    """
    from hydra.core.config_store import ConfigStore

    node = OmegaConf.create({"workload_params": {}})
    OmegaConf.set_struct(node.workload_params, False)
    ConfigStore.instance().store(name=SCHEMA, node=node)


def workload_group(name: str, from_file: bool, suite: Collection[str] = ()) -> str:
    """A workload's group in the report: ``traces`` for a trace file's row, ``held-out``
    for ``heldout_*``, ``suite`` for the rest of ``suite``, ``other`` for any other named
    workload (``conf/workload``)."""
    if from_file:
        return "traces"
    if name.startswith("heldout_"):
        return "held-out"
    return "suite" if name in suite else "other"


def trace_files(given: Sequence[str]) -> list[str]:
    """``traces=[...]`` with each glob (``'/data/v_*.npy'``, quoted on the command line)
    expanded, sorted; a glob that matches nothing is an error."""
    files: list[str] = []
    for f in given:
        if any(c in f for c in "*?[") and not Path(f).expanduser().exists():
            hits = sorted(glob.glob(str(Path(f).expanduser())))
            if not hits:
                raise ConfigError(f"traces: no file matches {f!r}")
            files += hits
        else:
            files.append(f)
    return files


def load_workloads(cfg: DictConfig) -> tuple[list[Trace], dict[str, str]]:
    """The traces to evaluate (generated workloads first, then trace files) and each one's
    group (:func:`workload_group`).

    ``workloads: null`` (the default) means the ``suite`` when no ``traces`` are
    given, and no generated workloads when some are; ``workloads=[]`` means none.
    """
    params = workload_params(cfg)
    files = trace_files(names_field(cfg, "traces"))
    if cfg.get("workloads") is None:
        names = [] if files else names_field(cfg, "suite")
    else:
        names = names_field(cfg, "workloads")
    for key in params:
        if key not in names:
            raise ConfigError(f"workload_params.{key}: {key!r} is not among the workloads "
                              f"evaluated ({', '.join(names) or 'none'})")
    seed = int_field(cfg, "seed", 0)
    traces = [make_workload(name, seed=seed, **params.get(name, {})) for name in names]
    suite = set(names_field(cfg, "suite"))
    groups = {t.name: workload_group(t.name, False, suite) for t in traces}
    paths: dict[str, str] = {}
    for path in files:
        t = load_trace(path)
        if t.name in groups:
            raise ConfigError(_name_clash(t.name, paths.get(t.name), path))
        paths[t.name] = path
        traces.append(t)
        groups[t.name] = workload_group(t.name, True)
    if len(groups) != len(traces):
        raise ConfigError("workloads: two workloads have the same name")
    if not traces:
        raise ConfigError(
            "workloads/traces: nothing to evaluate; give workloads=[...] or traces=[...]")
    return traces, groups


def _name_clash(name: str, first: str | None, path: str) -> str:
    """The error for trace file ``path`` whose row name ``name`` (its stem) is taken, by the
    file ``first`` or (None) by a generated workload."""
    if first is None:
        return (f"traces: {path} is named {name!r} (its stem), as a workload evaluated "
                "beside it; rename the file or leave the workload out")
    if os.path.realpath(Path(first).expanduser()) == os.path.realpath(Path(path).expanduser()):
        return f"traces: {path} is given twice (by name or by a glob); give it once"
    return (f"traces: {first} and {path} are both named {name!r} (a row is named after its "
            "file's stem); rename one, or evaluate them in separate runs (out=...)")


def _is_learned(policy: Any) -> bool:
    """A config that is trained (``cowrl.training.TRAINERS``): evaluate its artifact."""
    return getattr(policy, "trainer", None) is not None


def _artifacts(cfg: DictConfig) -> dict[str, Path]:
    """Trained artifacts by policy name: ``checkpoints=[...]`` first, else the latest ones."""
    from cowrl.policies.artifacts import read_artifact

    found: dict[str, Path] = {}
    for path in names_field(cfg, "checkpoints"):
        art = read_artifact(path)
        if art["name"] in found:  # one row per name: the second would replace the first
            raise ConfigError(f"checkpoints: {found[art['name']]} and {art['_path']} are both "
                              f"{art['name']!r}; evaluate them in separate runs (out=...)")
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
    from cowrl.policies.artifacts import latest_broken, load_policy

    lam = number_field(cfg, "lambda", 0.0)
    given = _artifacts(cfg)
    default = cfg.get("policies") is None
    if default:
        names = names_field(cfg, "adaptive") + names_field(cfg, "references")
        names += [n for n in given if n not in names]
    else:
        names = names_field(cfg, "policies")
        names += [n for n in given if n not in names]
    if not names:
        raise ConfigError("policies: give at least one policy name")
    policies: list[Policy] = []
    row_of: dict[str, str] = {}  # row name -> the policy name that built it
    for name in names:
        policy = make_policy(name, lam=lam) if name not in given else None
        if policy is None or _is_learned(policy):
            path = _resolve_learned(name, cfg, given)
            if path is None:
                latest = cfg.get("latest_dir")
                broken = latest_broken(latest, name) if latest else None
                why = f" (latest_dir: {broken})" if broken else ""
                if default:
                    log.warning("no trained artifact for %s%s (python train.py policy=%s); "
                                "left out", name, why, name)
                    continue
                raise ConfigError(f"policies: no trained artifact for {name!r}{why}; run "
                                  f"python train.py policy={name} or give checkpoints=[DIR]")
            policy = load_policy(path, name=name,
                                 field="checkpoints" if name in given else "latest_dir")
            log.info("%s: artifact %s", name, path)
        twin = row_of.setdefault(policy.name, name)
        if twin != name:  # two rows of one name: a copied conf/policy file kept its name:
            raise ConfigError(f"policies: {twin} and {name} both name their rows "
                              f"{policy.name!r} (the name: field of conf/policy/{name}.yaml); "
                              "give each its own name")
        policies.append(policy)
    return policies


def plan_runs(traces: Sequence[Trace], policies: Sequence[Policy], target: Target,
              cost: CostModel) -> list[Run]:
    """The (policy, trace) runs, trace by trace, of the policies ``target`` can run.

    A policy the target cannot run on some trace (the oracle on a kernel, which
    would read the future) is left out with a warning; an error if none is left.
    """
    keep = []
    for p in policies:
        why = next((w for t in traces if (w := target.unsupported(p, t, cost))), None)
        if why:
            log.warning("%s: left out on target %s: %s", p.name, target.name, why)
        else:
            keep.append(p)
    if not keep:
        raise ConfigError(f"policies: none of them can run on target {target.name!r}")
    return [Run(p, t) for t in traces for p in keep]


def resolve_costmodel(cfg: DictConfig) -> Any:
    """``costmodel=auto`` (the default) means the target's own, ``target.costmodel``."""
    if cfg.costmodel.get("name") == "auto":
        name = cfg.target.get("costmodel")
        if not name:
            raise ConfigError(f"costmodel: auto, but target {cfg.target.get('name')!r} "
                              "names none (target.costmodel)")
        return str(name)
    return cfg.costmodel


def load_target(cfg: DictConfig) -> Target:
    """``cfg.target`` built (``conf/target/<name>.yaml``); only targets that run traces."""
    target = make_target(cfg.target)
    if not isinstance(target, Target):
        raise ConfigError(f"target: {getattr(target, 'name', target)!r} runs no traces "
                          "(calibrate.py only); eval.py needs one that replays traces")
    return target


def evaluate(cfg: DictConfig, target: Target | None = None) -> dict[str, Any]:
    """Run every (policy, workload) on ``target`` (default: built from ``cfg.target``);
    write results and return them."""
    target = target if target is not None else load_target(cfg)
    cost = make_costmodel(resolve_costmodel(cfg))
    calibrated = target.costmodel if target.measured else None
    if calibrated and calibrated != cost.name:
        log.warning("costmodel=%s prices the adaptive policies' budgets on target %s, whose "
                    "calibrated model is %s (costmodel=auto): their bound holds only in the "
                    "prices they are given (docs/policies.md, \"Calibration error\")",
                    cost.name, target.name, calibrated)
    lam = number_field(cfg, "lambda", 0.0)
    seed = int_field(cfg, "seed", 0)
    progress, plots, report = (bool_field(cfg, k, True) for k in ("progress", "plots", "report"))
    layout = layout_field(cfg)
    out = output_dir(cfg.out if cfg.get("out") else _hydra_dir())
    traces, groups = load_workloads(cfg)
    policies = load_policies(cfg)
    runs = plan_runs(traces, policies, target, cost)
    records = target.run(Plan(runs, cost, seed=seed, progress=progress, layout=layout))
    rows = [{**summarize(r, lam, cost.page_cost_ns), "group": groups[r.workload]}
            for r in records]
    meta = {
        "target": target.name,
        "target_facts": target.describe(),
        "groups": groups,
        "costmodel": cost.name,
        "costmodel_provenance": cost.provenance,
        "costmodel_calibrated": calibrated,
        "layout": layout,
        "config": OmegaConf.to_container(cfg, resolve=True),
    }
    write_results(out, rows, meta)
    if plots:
        from cowrl.plots import plot_all

        plot_all(out, rows, records, groups)
    print_table(rows)
    result: dict[str, Any] = {"out": str(out), "rows": rows, "meta": meta}
    if report:
        from cowrl.report import write_report

        sim_rows = decide = None
        if target.measured:  # beside the simulator: counts, and the bound of the decisions
            from cowrl.sim.simulator import decides
            from cowrl.targets.sim import SimTarget

            sim_rows = [summarize(r, lam, cost.page_cost_ns) for r in SimTarget().run(
                Plan(runs, cost, seed=seed, layout=layout))]
            # guarded's budget (costmodel: auto) and a frozen bandit's follow the cost model:
            # under it an inert one runs STATIC k = 0 and decides nothing.
            decide = {p.name: (p.decide_program, cost.decide_cost(p.decide_program))
                      for p in policies if decides(p.deployed_under(cost))}
        result["report"] = write_report(out, rows, traces, cost, lam, target.name,
                                        adaptive=names_field(cfg, "adaptive"),
                                        groups=groups, simulated=not target.measured,
                                        sim_rows=sim_rows, decide=decide,
                                        calibrated=calibrated)
    if cfg.get("snapshot_report"):  # experiment=real: what the snapshotting parent feels
        from cowrl.record.report import write_snapshot_table

        result["snapshot"] = write_snapshot_table(out, rows, names_field(cfg, "snapshot_report"),
                                                  target.name)
    log.info("results in %s", out)
    return result


def _hydra_dir() -> Path:
    try:
        from hydra.core.hydra_config import HydraConfig

        return Path(HydraConfig.get().runtime.output_dir)
    except ValueError:
        return Path("outputs/eval")


def write_results(out: Path, rows: list[dict[str, Any]], meta: dict[str, Any]) -> None:
    """``results.json`` and ``results.csv``, each written whole to a temporary file first:
    interrupted, or failing on a row, the pair a previous run left in ``out`` stays as it
    was."""
    tmp = {name: out / f"{name}.tmp{os.getpid()}" for name in ("results.json", "results.csv")}
    try:
        tmp["results.json"].write_text(json.dumps({"meta": meta, "rows": rows}, indent=1,
                                                  default=_json_default))
        extra = sorted({k for r in rows for k in r} - set(FIELDS))
        with tmp["results.csv"].open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(FIELDS) + extra)
            w.writeheader()
            w.writerows(rows)
        for name, t in tmp.items():
            os.replace(t, out / name)
    finally:
        for t in tmp.values():
            t.unlink(missing_ok=True)


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
