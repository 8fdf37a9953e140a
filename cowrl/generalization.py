"""The generalization protocol: train without a family, test on it; report the issue's targets.

One *job* = (learner, held-out set, training seed, cost model):

1. train the learner on the randomized distribution with the held-out family left out
   (:func:`cowrl.traces.generators.randomized` with ``exclude``), or on all of it when the
   held-out set is the public validation traces or a recorded application, plus the
   recorded corpus (``corpus_dir``) without the held-out application (``train_corpus``);
2. test it, with the references (baseline, readahead, precopy k=1, ``shield64``: the shield
   alone, which a learner must beat, ``precopy_best``, oracle), on fresh draws of the
   held-out family (or on the held-out traces), and compute each trace's *safe ceiling*
   (:mod:`cowrl.policies.ceiling`: the most any policy that meets the safety target on every
   trace can gain on it);
3. write ``job.json``: one row per (policy, trace).

:func:`report` gathers the rows of every job of a sweep into one table per (held-out set,
cost model): for each learner the targets of issue #10 with the number of training seeds
and the spread across them. ``experiments/generalization.py`` is the Hydra entry.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cowrl.errors import (
    ConfigError,
    bool_field,
    int_field,
    names_field,
    number_field,
    read_json,
)
from cowrl.metrics import geomean, objective
from cowrl.policies.base import Policy
from cowrl.policies.ceiling import safe_ceiling
from cowrl.sim.costmodel import CostModel
from cowrl.traces.generators import FAMILIES, family_trace, randomized
from cowrl.traces.io import Trace, load_trace

VALIDATION = "validation"
"""Held-out set name of the public validation traces (``../shared/validation`` by default)."""
APP_PREFIX = "app:"
"""Held-out set ``app:NAME``: every recorded trace of application NAME in the corpus."""
REFERENCES = ("baseline", "readahead", "precopy", "shield64")
"""Policies every job measures besides its learners (``measure`` adds ``precopy_best`` and the
oracle per trace)."""
UNIFORM_OR_SPARSE = ("random", "sparse", "v_pointer_chase")
"""Trace families whose waste target is <= 1% of precopied pages (by family or trace name)."""

TARGETS = {"safety": 1.02, "near_best": 1.10, "gain_share": 0.60, "waste": 0.01}


def train_traces(exclude: Sequence[str], seed: int, draws: int) -> list[Trace]:
    """``draws`` randomized traces without the ``exclude`` families (training seed ``seed``)."""
    return [randomized(seed=seed * 7919 + 17 + d // 8, draw=d % 8, exclude=list(exclude))
            for d in range(draws)]


def test_traces(holdout: str, draws: int, validation_dir: Path | None, corpus_dir: Path | None
                ) -> list[Trace]:
    """The held-out traces: fresh draws of a family, the validation traces, or an app's."""
    if holdout in FAMILIES:
        # family_trace draws from its own random stream: never a training trace.
        return [family_trace(holdout, seed=100_000 + i, name=f"{holdout}_{i}")
                for i in range(draws)]
    if holdout == VALIDATION:
        if validation_dir is None or not validation_dir.is_dir():
            raise ConfigError(f"validation_dir: {validation_dir} is not a directory")
        files = sorted(validation_dir.glob("v_*.npy"))
        if not files:
            raise ConfigError(f"validation_dir: no v_*.npy in {validation_dir}")
        return [load_trace(f) for f in files]
    if holdout.startswith(APP_PREFIX):
        app = holdout[len(APP_PREFIX):]
        apps = app_traces(corpus_dir)
        files = apps.get(app)
        if not files:
            known = ", ".join(f"{APP_PREFIX}{a}" for a in sorted(apps)) or "none"
            raise ConfigError(f"holdout: no recorded traces of application {app!r} in "
                              f"{corpus_dir} (recorded: {known})")
        return [load_trace(f) for f in files]
    raise ConfigError(f"holdout: {holdout!r} is not a family ({', '.join(FAMILIES)}), "
                      f"{VALIDATION!r} or app:NAME")


def holdout_names(text: str, field: str, corpus_dir: Path | None = None,
                  families_only: bool = False) -> list[str]:
    """A script's comma list of held-out sets (``--families seq,stride``, ``--holdouts
    seq,app:redis,validation``) checked before any work: each a family of FAMILIES or, unless
    ``families_only``, ``validation`` or ``app:NAME`` of a recording in ``corpus_dir``; else a
    one-line ConfigError naming ``field``."""
    names = [n for n in str(text).split(",") if n]
    apps = {} if families_only else app_traces(corpus_dir)
    for n in names or [str(text)]:
        if n in FAMILIES or (not families_only and (
                n == VALIDATION or (app_name(n) is not None and app_name(n) in apps))):
            continue
        other = "" if families_only else (
            f", {VALIDATION!r} or one of " + (", ".join(f"{APP_PREFIX}{a}" for a in sorted(apps))
                                              or "no recorded application"))
        raise ConfigError(f"{field}: {n!r} is not a family ({', '.join(FAMILIES)}){other}")
    return names


def app_traces(corpus_dir: Path | None) -> dict[str, list[Path]]:
    """Recorded traces by application: ``<corpus>/<app>/*.npz|npy`` or ``<app>_*.npz``."""
    if corpus_dir is None or not Path(corpus_dir).is_dir():
        return {}
    out: dict[str, list[Path]] = defaultdict(list)
    for f in sorted(Path(corpus_dir).rglob("*")):
        if f.suffix not in (".npz", ".npy"):
            continue
        rel = f.relative_to(corpus_dir)
        app = rel.parts[0] if len(rel.parts) > 1 else f.stem.split("_")[0]
        out[app].append(f)
    return dict(out)


def app_name(holdout: str) -> str | None:
    """The application of a held-out set ``app:NAME``, else None."""
    return holdout[len(APP_PREFIX):] if holdout.startswith(APP_PREFIX) else None


def corpus_train_files(holdout: str, corpus_dir: Path | None) -> list[Path]:
    """The recorded traces that join training for ``holdout``: every application of the
    corpus except the held-out one (all of them for a family or the validation set)."""
    held = app_name(holdout)
    return [f for app, files in sorted(app_traces(corpus_dir).items()) if app != held
            for f in files]


def family_of(trace: Trace) -> str:
    return str(trace.meta.get("family", trace.name))


def train_learner(learner: str, traces: list[Trace], cost: CostModel, lam: float, seed: int,
                  exclude: Sequence[str] = (), train_overrides: Sequence[str] = (),
                  passes: int = 2, corpus: Sequence[Path] = (),
                  guarded_options: dict[str, Any] | None = None,
                  guarded_prior: int = 0) -> Policy:
    """A trained policy: ``guarded`` / ``guarded_adjacent`` (its table learned on ``traces``,
    with the budget options of its conf/policy file, ``guarded_adjacent``'s being the shipped
    ones with ``stride_window: 0``, and ``guarded_options`` over them, each cell asking
    ``guarded_prior`` unless the data say otherwise), ``bandit``/``ppo``/``dqn``
    (``train(cfg)`` on the same randomized suite plus the ``corpus`` recordings), or a fixed
    one by name."""
    from cowrl.registry import make_policy

    if learner in GUARDED_LEARNERS:
        from cowrl.policies.guarded import GuardedPolicy, learn_table, shipped_options

        # the budget as shipped (proof: 1 priced with its clean), options given over it
        kw = {**shipped_options(learner), **(guarded_options or {})}
        res = learn_table(traces, [cost], lam=lam, seed=seed, passes=passes,
                          prior=guarded_prior, **kw)
        policy = GuardedPolicy.for_cost(cost, lam, name=learner, **kw)
        policy.table = res["table"]
        return policy
    if learner in TRAIN_PY_LEARNERS:
        return _train_with_train_py(learner, cost, lam, seed, exclude, train_overrides, corpus)
    return make_policy(learner, lam=lam)


GUARDED_LEARNERS = ("guarded", "guarded_adjacent")
"""Learners whose table ``learn_table`` learns (the options of ``conf/policy/<name>.yaml``:
``guarded`` has strided windows since session 30, ``guarded_adjacent`` is the same with
``stride_window: 0``); ``guarded_options`` and ``guarded_prior`` apply to each of them.
Session 29's ``guarded_stride`` learner is ``guarded`` now (``cowrl.registry.RETIRED``)."""


TRAIN_PY_LEARNERS = ("bandit", "bandit_stream", "ucb1", "thompson", "ppo", "dqn")
"""Learners the protocol trains through ``train.py`` (which ``train_overrides`` reach)."""


def _compose_train(overrides: list[str]) -> Any:
    """``conf/train.yaml`` composed with ``overrides``; a one-line ConfigError naming
    ``train_overrides`` for one Hydra cannot apply (before any training, not after the
    learners before it)."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException

    from cowrl.registry import CONF_DIR

    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            return compose("train", overrides)
    except HydraException as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ConfigError(f"train_overrides: {first}") from None
    finally:
        GlobalHydra.instance().clear()


def train_py_overrides(learner: str, cost: CostModel, lam: float, seed: int,
                       exclude: Sequence[str], train_overrides: Sequence[str],
                       corpus: Sequence[Path] = ()) -> list[str]:
    """The ``train.py`` overrides of a learner's job: rand0..rand7 without ``exclude``, plus
    each ``corpus`` recording as its workload (``conf/workload/<stem>.yaml``, read from the
    given file)."""
    from cowrl.registry import CONF_DIR

    names = [f"rand{i}" for i in range(8)]
    params = []
    if exclude:
        fams = ",".join(exclude)
        params += [f"+workload_params.rand{i}.exclude='{fams}'" for i in range(8)]
    for f in corpus:
        if not (CONF_DIR / "workload" / f"{f.stem}.yaml").is_file():
            raise ConfigError(f"corpus_dir: {f} has no conf/workload/{f.stem}.yaml to train "
                              "on (add one, or set train_corpus=false)")
        names.append(f.stem)
        params.append(f"+workload_params.{f.stem}.path='{Path(f).resolve()}'")
    overrides = [f"policy={learner}", f"costmodel={cost.name}", f"seed={seed}",
                 f"workloads=[{','.join(names)}]",
                 "latest_dir=null", "progress=false", "resume=false", f"lambda={lam}"]
    return overrides + params + [str(o) for o in train_overrides]


def _train_with_train_py(learner: str, cost: CostModel, lam: float, seed: int,
                         exclude: Sequence[str], train_overrides: Sequence[str],
                         corpus: Sequence[Path] = ()) -> Policy:
    import tempfile

    from cowrl.policies.artifacts import load_policy
    from cowrl.training import train

    overrides = train_py_overrides(learner, cost, lam, seed, exclude, train_overrides, corpus)
    out = Path(tempfile.mkdtemp(prefix=f"gen_{learner}_"))
    overrides.append(f"out={out}")
    res = train(_compose_train(overrides))
    return load_policy(res["artifact"], name=learner)


def measure(policies: Sequence[Policy], traces: Sequence[Trace], cost: CostModel,
            lam: float = 1.0) -> list[dict[str, Any]]:
    """One row per (policy, trace): objective / baseline, / precopy_best, / oracle, waste."""
    from cowrl.policies.best_static import BestStatic
    from cowrl.policies.oracle import Oracle
    from cowrl.sim.simulator import simulate

    rows = []
    for t in traces:
        ceiling = safe_ceiling(t, cost, lam, slack=TARGETS["safety"] - 1).ratio
        objs = BestStatic(lam=lam).objectives(t, cost)
        base = objs[0]
        best_k = min(objs, key=lambda k: (objs[k], k))
        orec: Any = simulate(t, Oracle(lam=lam), cost)
        oracle = objective(orec, lam, cost.page_cost_ns)
        for p in policies:  # precopy_best and the oracle are added below, per trace
            if p.name in ("precopy_best", "oracle"):
                continue
            rec: Any = simulate(t, p, cost)
            obj = objective(rec, lam, cost.page_cost_ns)
            rows.append(_row(p.name, t, obj, base, objs[best_k], oracle, rec.precopied,
                             rec.wasted, rec.faults, ceiling_ratio=ceiling))
        rows.append(_row("precopy_best", t, objs[best_k], base, objs[best_k], oracle, -1, -1,
                         -1, best_k=best_k, ceiling_ratio=ceiling))
        rows.append(_row("oracle", t, oracle, base, objs[best_k], oracle, orec.precopied,
                         orec.wasted, orec.faults, ceiling_ratio=ceiling))
    return rows


def add_ceilings(job: dict[str, Any], validation_dir: Path | None, corpus_dir: Path | None,
                 lam: float = 1.0) -> dict[str, Any]:
    """``job`` with each row's ``ceiling_ratio`` (the safe ceiling of its trace), for jobs
    written before :func:`measure` recorded it: the held-out traces are drawn again as the
    job drew them (``test_traces``; a family's draws are fixed by their seeds), or read from
    ``validation_dir`` / ``corpus_dir``. A trace of the job that is not found there is a
    ConfigError naming it. Rows that have the field keep it."""
    from cowrl.registry import make_costmodel

    if "rows" not in job or all("ceiling_ratio" in r for r in job["rows"]):
        return job
    cost = make_costmodel(job["costmodel"])
    traces = {t.name: t for t in test_traces(job["holdout"], int(job["n_test"]),
                                             validation_dir, corpus_dir)}
    ceilings: dict[str, float] = {}
    rows = []
    for r in job["rows"]:
        if "ceiling_ratio" not in r:
            if r["trace"] not in traces:
                raise ConfigError(f"{job['holdout']}: trace {r['trace']!r} of the job is not "
                                  "among the held-out traces found now")
            if r["trace"] not in ceilings:
                ceilings[r["trace"]] = safe_ceiling(traces[r["trace"]], cost, lam,
                                                    slack=TARGETS["safety"] - 1).ratio
            r = {**r, "ceiling_ratio": ceilings[r["trace"]]}
        rows.append(r)
    return {**job, "rows": rows}


def _row(policy: str, t: Trace, obj: float, base: float, best: float, oracle: float,
         precopied: int, wasted: int, faults: int, **extra: Any) -> dict[str, Any]:
    return {"policy": policy, "trace": t.name, "family": family_of(t), "ratio": obj / base,
            "vs_best": obj / best, "oracle_ratio": oracle / base, "best_ratio": best / base,
            "precopied": precopied, "wasted": wasted, "faults": faults, **extra}


def check_targets(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The issue's targets over one policy's rows on one held-out set."""
    ratios = [r["ratio"] for r in rows]
    gain = 1 - geomean(ratios)
    oracle_gain = 1 - geomean([r["oracle_ratio"] for r in rows])
    worst = max(rows, key=lambda r: r["ratio"])
    far = max(rows, key=lambda r: r["vs_best"])
    us = [r for r in rows if r["family"] in UNIFORM_OR_SPARSE or r["trace"] in UNIFORM_OR_SPARSE]
    pre = sum(max(r["precopied"], 0) for r in us)
    waste = sum(max(r["wasted"], 0) for r in us) / pre if pre else 0.0
    # Below 1% of baseline the oracle's gain is no yardstick (as in cowrl.report): a share
    # of it is noise in a tiny denominator (-17 for a policy 3% worse under tcg).
    share = gain / oracle_gain if oracle_gain >= 0.01 else None
    pre_all = sum(max(r["precopied"], 0) for r in rows)
    wasted_all = sum(max(r["wasted"], 0) for r in rows)
    return {**ceiling_targets(rows, gain, oracle_gain),
        "safety": worst["ratio"], "safety_trace": worst["trace"],
        "near_best": far["vs_best"], "near_best_trace": far["trace"],
        "gain": gain, "oracle_gain": oracle_gain, "gain_share": share,
        "waste": waste if us else None,
        "waste_all": wasted_all / pre_all if pre_all else 0.0, "wasted_all": wasted_all,
        "ok_safety": worst["ratio"] <= TARGETS["safety"],
        "ok_near_best": far["vs_best"] <= TARGETS["near_best"],
        "ok_gain_share": None if share is None else share >= TARGETS["gain_share"],
        "ok_waste": (waste <= TARGETS["waste"]) if us else None,
    }


def ceiling_targets(rows: Sequence[dict[str, Any]], gain: float, oracle_gain: float
                    ) -> dict[str, Any]:
    """What the safe ceiling says of one policy's rows (None where a row has no
    ``ceiling_ratio``): ``ceiling_gain`` (geomean gain of the ceilings: no policy that meets
    the safety target on every trace gains more here), ``ceiling_share`` (that gain over the
    oracle's: the largest share of it any such policy can reach), ``of_ceiling`` (this
    policy's gain over the ceiling's), and ``near_best_unreachable`` (the traces whose
    ceiling is above 1.10 x the best fixed k: no safe policy is within 1.10 of it there)."""
    if not rows or any("ceiling_ratio" not in r for r in rows):
        return {"ceiling_gain": None, "ceiling_share": None, "of_ceiling": None,
                "near_best_unreachable": None}
    cgain = 1 - geomean([r["ceiling_ratio"] for r in rows])
    far = [r["trace"] for r in rows
           if r["ceiling_ratio"] > TARGETS["near_best"] * r["best_ratio"] + 1e-12]
    return {"ceiling_gain": cgain,
            "ceiling_share": cgain / oracle_gain if oracle_gain >= 0.01 else None,
            "of_ceiling": gain / cgain if cgain >= 0.01 else None,
            "near_best_unreachable": sorted(set(far))}


def guarded_prior_field(cfg: Any, learners: Sequence[str]) -> int:
    """``guarded_prior`` (default 0): the degree a cell of a guarded learner's table asks
    unless its data say otherwise (``learn_table``'s ``prior``: 0, the learner as shipped, or
    e.g. 64, what ``shield64`` asks); a one-line ConfigError naming it otherwise."""
    from cowrl.policies.guarded import DEGREES

    v = cfg.get("guarded_prior", 0)
    if v is None:
        v = 0
    if isinstance(v, bool) or not isinstance(v, int) or v not in DEGREES:
        raise ConfigError(f"guarded_prior: a degree of {', '.join(map(str, DEGREES))}, "
                          f"got {v!r}")
    if v and not set(GUARDED_LEARNERS) & set(learners):
        raise ConfigError("guarded_prior: set, but guarded is not in learners (nor "
                          "guarded_adjacent)")
    return int(v)


def guarded_options_field(cfg: Any, learners: Sequence[str]) -> dict[str, Any]:
    """``guarded_options`` (a mapping, default empty): budget options of
    :class:`~cowrl.policies.guarded.GuardedPolicy` set over the shipped ones
    (``conf/policy/guarded.yaml``, ``guarded_adjacent.yaml``) for the ``guarded`` and
    ``guarded_adjacent`` learners (their tables learned and measured with them), e.g.
    ``'guarded_options={floor_slow: 5}'``. Checked by building each such learner's policy; a
    bad one is a one-line ConfigError naming ``guarded_options``."""
    from omegaconf import DictConfig, OmegaConf

    raw = cfg.get("guarded_options")
    if raw is None:
        return {}
    if isinstance(raw, DictConfig):
        raw = OmegaConf.to_container(raw)
    if not isinstance(raw, dict):
        raise ConfigError(f"guarded_options: must be a mapping of guarded.yaml options, e.g. "
                          f"{{floor_slow: 5}}, got {raw!r}")
    opts = {str(k): v for k, v in raw.items()}
    if not opts:
        return {}
    if not set(GUARDED_LEARNERS) & set(learners):
        raise ConfigError("guarded_options: set, but guarded is not in learners (nor "
                          "guarded_adjacent)")
    from cowrl.policies.guarded import GuardedPolicy, budget_option_names, shipped_options

    # the options of GuardedPolicy, not its table, name or the cost model's prices
    allowed = budget_option_names()
    for key in opts:
        if key not in allowed:
            raise ConfigError(f"guarded_options: {key!r} is not a budget option of guarded "
                              f"({', '.join(sorted(allowed))})")
    try:
        for name in GUARDED_LEARNERS:
            if name in learners:
                GuardedPolicy(**{**shipped_options(name), **opts})
    except ConfigError as e:
        raise ConfigError(f"guarded_options: {str(e).splitlines()[0]}") from None
    return opts


def job_options(cfg: Any) -> dict[str, Any]:
    """The fields of a job (``conf/generalization.yaml``) checked before it trains anything:
    a bad one is a ConfigError naming it (``seed=abc``, ``lambda=nan``, ``learners=[nope]``,
    a ``corpus_dir`` that is no directory), not a traceback or a silent default."""
    from cowrl.cli import output_dir
    from cowrl.registry import group_config

    learners = names_field(cfg, "learners")
    if not learners:
        raise ConfigError("learners: give at least one learner, e.g. learners=[guarded]")
    for name in learners:
        group_config("policy", name, "learners")
    cdir = resolve_dir(cfg.get("corpus_dir"))
    if cdir is not None and not cdir.is_dir():
        raise ConfigError(f"corpus_dir: {cdir} is not a directory (corpus_dir=null: no "
                          "recordings)")
    opts = {
        "holdout": str(cfg.get("holdout")),
        "seed": int_field(cfg, "seed", 0),
        "lam": number_field(cfg, "lambda", 0.0),
        "train_draws": int_field(cfg, "train_draws", 1),
        "test_draws": int_field(cfg, "test_draws", 1),
        "passes": int_field(cfg, "passes", 1, default=2),
        "train_corpus": bool_field(cfg, "train_corpus", True),
        "learners": learners,
        "train_overrides": names_field(cfg, "train_overrides"),
        "guarded_options": guarded_options_field(cfg, learners),
        "guarded_prior": guarded_prior_field(cfg, learners),
        "validation_dir": resolve_dir(cfg.get("validation_dir")),
        "corpus_dir": cdir,
    }
    if opts["train_overrides"]:  # every train.py learner's, before the first one trains
        for name in learners:
            if name in TRAIN_PY_LEARNERS:
                _compose_train([f"policy={name}", *opts["train_overrides"]])
    output_dir(str(cfg.out) if cfg.get("out") else Path.cwd())
    return opts


def run_job(cfg: Any) -> dict[str, Any]:
    """One job of the sweep (see the module docstring); writes ``<out>/job.json``."""
    from cowrl.registry import make_costmodel, make_policy

    o = job_options(cfg)
    holdout, lam, seed = o["holdout"], o["lam"], o["seed"]
    cost = make_costmodel(cfg.costmodel)
    vdir, cdir = o["validation_dir"], o["corpus_dir"]
    if holdout == VALIDATION and (vdir is None or not vdir.is_dir()):
        return _write_job(cfg, {"skipped": f"no validation traces at {vdir}"})
    if holdout.startswith(APP_PREFIX) and not app_traces(cdir):
        return _write_job(cfg, {"skipped": f"no recorded corpus at {cdir}"})
    exclude = [holdout] if holdout in FAMILIES else []
    test = test_traces(holdout, o["test_draws"], vdir, cdir)
    train = train_traces(exclude, seed, o["train_draws"])
    # The recorded applications join every learner's training, the held-out one never.
    corpus = corpus_train_files(holdout, cdir) if o["train_corpus"] else []
    train += [load_trace(f) for f in corpus]
    learners = o["learners"]
    extra = o["train_overrides"]
    gopts = o["guarded_options"]
    policies = [train_learner(name, train, cost, lam, seed, exclude, extra, o["passes"],
                              corpus, gopts, o["guarded_prior"]) for name in learners]
    refs = [make_policy(n, lam=lam) for n in REFERENCES if n not in learners]
    rows = measure(policies + refs, test, cost, lam)
    for r in rows:
        r["learned"] = r["policy"] in learners
    # The learned guarded tables, so that the held-out traces can be replayed under them
    # (experiments/guarded_use.py --tables) without learning again: every policy that runs
    # the module's GUARDED program over a table (not a branch on a policy class).
    tables = {p.name: [int(v) for v in p.table] for p in policies
              if p.decide_program == "guarded" and hasattr(p, "table")}
    return _write_job(cfg, {"rows": rows, "n_train": len(train), "n_test": len(test),
                            "train_corpus": [f.stem for f in corpus], "tables": tables,
                            **({"guarded_options": gopts} if gopts else {}),
                            **({"guarded_prior": o["guarded_prior"]}
                               if o["guarded_prior"] else {})})


def _write_job(cfg: Any, body: dict[str, Any]) -> dict[str, Any]:
    out = Path(str(cfg.out)) if cfg.get("out") else Path.cwd()
    out.mkdir(parents=True, exist_ok=True)
    job = {"holdout": str(cfg.holdout), "seed": int(cfg.seed),
           "costmodel": str(cfg.costmodel.name), **body}
    tmp = out / "job.json.tmp"
    tmp.write_text(json.dumps(job, default=float))
    tmp.replace(out / "job.json")
    return job


JOB_KEYS = ("holdout", "seed", "costmodel")
"""What every ``job.json`` holds (``_write_job``), besides ``rows`` or ``skipped``."""


def read_job(path: Path, field: str = "report") -> dict[str, Any]:
    """One ``job.json``, or a one-line ConfigError naming ``field`` and the file (unreadable,
    not JSON, or not a job of this protocol)."""
    job = read_json(path, field)
    if not isinstance(job, dict) or any(k not in job for k in JOB_KEYS) or not (
            "rows" in job or "skipped" in job):
        raise ConfigError(f"{field}: {path} is not a job of experiments/generalization.py "
                          f"(expected {', '.join(JOB_KEYS)} and rows or skipped)")
    return job


def gather(sweep_dir: Path, field: str = "report") -> list[dict[str, Any]]:
    """Every ``job.json`` under ``sweep_dir`` (``read_job``)."""
    return [read_job(p, field) for p in sorted(Path(sweep_dir).rglob("job.json"))]


def report_of(path: Any) -> str:
    """``report=DIR``: the report of the jobs under DIR; a ConfigError naming ``report`` if
    DIR is no directory or holds no ``job.json``."""
    d = Path(str(path))
    if not d.is_dir():
        raise ConfigError(f"report: {d} is not a directory")
    jobs = gather(d)
    if not jobs:
        raise ConfigError(f"report: no job.json under {d}")
    return report(jobs)


def report(jobs: Sequence[dict[str, Any]]) -> str:
    """One markdown table per cost model: a row per (held-out set, policy) with the targets,
    the number of training seeds and the spread (min..max over seeds) of the geomean gain."""
    groups: dict[tuple[str, str, str], dict[int, list[dict[str, Any]]]] = defaultdict(
        lambda: defaultdict(list))
    skipped = []
    for j in jobs:
        if "skipped" in j:
            skipped.append(f"{j['holdout']} ({j['costmodel']}): {j['skipped']}")
            continue
        for r in j["rows"]:
            groups[(j["costmodel"], j["holdout"], r["policy"])][j["seed"]].append(r)
    lines = []
    for cm in sorted({k[0] for k in groups}):
        lines += [f"\n### cost model {cm}\n",
                  "| held out | policy | seeds | gain (min..max) | oracle gain | share of "
                  "oracle | worst vs baseline | worst vs best k | waste (random/sparse) | "
                  "targets met | wasted / precopied (all traces) |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        for (c, hold, pol), by_seed in sorted(groups.items(),
                                              key=lambda kv: (kv[0][1], _order(kv[0][2]))):
            if c != cm:
                continue
            per = [check_targets(rows) for _, rows in sorted(by_seed.items())]
            gains = [p["gain"] for p in per]
            all_rows = [r for rows in by_seed.values() for r in rows]
            t = check_targets(all_rows)
            met = [name for name in ("safety", "near_best", "gain_share", "waste")
                   if t[f"ok_{name}"]]
            share = "-" if t["gain_share"] is None else f"{t['gain_share']:.2f}"
            missed = [name for name in ("safety", "near_best", "gain_share", "waste")
                      if t[f"ok_{name}"] is False]
            waste = "-" if t["waste"] is None else f"{100 * t['waste']:.2f}%"
            lines.append(
                f"| {hold} | {pol} | {len(by_seed)} | {100 * t['gain']:+.1f}% "
                f"({100 * min(gains):+.1f}..{100 * max(gains):+.1f}) | "
                f"{100 * t['oracle_gain']:+.1f}% | {share} | "
                f"{t['safety']:.3f} ({t['safety_trace']}) | {t['near_best']:.3f} "
                f"({t['near_best_trace']}) | {waste} | "
                f"{len(met)}/{len(met) + len(missed)}"
                f"{' missed: ' + ','.join(missed) if missed else ''} | "
                f"{100 * t['waste_all']:.1f}% ({t['wasted_all']} pages) |")
    lines += family_summary(jobs)
    lines += length_summary(jobs)
    lines += ceiling_summary(jobs)
    if skipped:
        lines += ["", "Skipped: " + "; ".join(sorted(set(skipped)))]
    lines += ["", "Targets (issue #10): safety = worst objective / baseline <= "
              f"{TARGETS['safety']}; near_best = worst objective / precopy_best <= "
              f"{TARGETS['near_best']}; gain_share = geomean gain / oracle's >= "
              f"{TARGETS['gain_share']} (\"-\": the oracle gains under 1%, no yardstick); "
              "waste = wasted / precopied on uniform-random and sparse "
              f"traces <= {100 * TARGETS['waste']:.0f}%. Gains are geometric means over the "
              "held-out traces of all seeds; (min..max) is the spread of the per-seed gain."]
    return "\n".join(lines)


def family_summary(jobs: Sequence[dict[str, Any]]) -> list[str]:
    """Markdown lines: per cost model and policy, the targets over every held-out *family*
    pooled (each family's traces tested by the table trained without it), with the number
    of families that are safe and within 1.10 x of the best fixed k on all their traces."""
    rows: dict[tuple[str, str], dict[int, list[dict[str, Any]]]] = defaultdict(
        lambda: defaultdict(list))
    for j in jobs:
        if "rows" not in j or j["holdout"] not in FAMILIES:
            continue
        for r in j["rows"]:
            rows[(j["costmodel"], r["policy"])][j["seed"]].append({**r, "holdout": j["holdout"]})
    if not rows:
        return []
    lines = ["\n### all held-out families pooled\n",
             "| cost model | policy | seeds | families | gain (min..max) | share of oracle | "
             "worst vs baseline | worst vs best k | waste (random/sparse) | families safe | "
             "families within 1.10 of best k |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for (cm, pol), by_seed in sorted(rows.items(), key=lambda kv: (kv[0][0], _order(kv[0][1]))):
        all_rows = [r for rs in by_seed.values() for r in rs]
        t = check_targets(all_rows)
        gains = [check_targets(rs)["gain"] for _, rs in sorted(by_seed.items())]
        fams = sorted({r["holdout"] for r in all_rows})
        per_fam = [check_targets([r for r in all_rows if r["holdout"] == f]) for f in fams]
        share = "-" if t["gain_share"] is None else f"{t['gain_share']:.2f}"
        waste = "-" if t["waste"] is None else f"{100 * t['waste']:.0f}%"
        lines.append(
            f"| {cm} | {pol} | {len(by_seed)} | {len(fams)} | {100 * t['gain']:+.1f}% "
            f"({100 * min(gains):+.1f}..{100 * max(gains):+.1f}) | {share} | "
            f"{t['safety']:.3f} ({t['safety_trace']}) | {t['near_best']:.3f} "
            f"({t['near_best_trace']}) | {waste} | {sum(p['ok_safety'] for p in per_fam)}/"
            f"{len(fams)} | {sum(p['ok_near_best'] for p in per_fam)}/{len(fams)} |")
    return lines


# Buckets of a trace's baseline demand faults for length_summary: the risk budget starts at 0
# in every process, so a short trace ends before a bounded policy may risk a window.
LENGTH_BUCKETS = (256, 1024, 4096, 16384)


def length_bucket(faults: int) -> str:
    """The label of the :data:`LENGTH_BUCKETS` bucket holding ``faults``."""
    lo = 0
    for hi in LENGTH_BUCKETS:
        if faults < hi:
            return f"{lo:,}-{hi - 1:,}"
        lo = hi
    return f">= {lo:,}"


def length_summary(jobs: Sequence[dict[str, Any]]) -> list[str]:
    """Markdown lines: per cost model, every held-out trace of every job pooled and bucketed
    by its baseline demand faults; per bucket and policy the geometric-mean gain and its share
    of the oracle's. Tells the gain a bounded policy cannot have on short traces (its budget
    opens a first window only after ~100+ faults) from what it misses on long ones."""
    base: dict[tuple[str, str, int, str], int] = {}
    rows: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for j in jobs:
        if "rows" not in j:
            continue
        key = (j["costmodel"], j["holdout"], j["seed"])
        for r in j["rows"]:
            if r["policy"] == "baseline":
                base[(*key, r["trace"])] = int(r["faults"])
        for r in j["rows"]:
            faults = base.get((*key, r["trace"]))
            if faults is not None and r["policy"] != "baseline":
                rows[(j["costmodel"], length_bucket(faults))].append(r)
    if not rows:
        return []
    policies = sorted({r["policy"] for rs in rows.values() for r in rs}, key=_order)
    labels = [length_bucket(0)] + [length_bucket(b) for b in LENGTH_BUCKETS]
    lines = ["\n### gain by trace length (every held-out trace pooled, by its baseline demand "
             "faults)\n", "| cost model | baseline faults | traces | "
             + " | ".join(policies) + " |", "|---|---|---|" + "---|" * len(policies)]
    for cm in sorted({k[0] for k in rows}):
        for label in labels:
            rs = rows.get((cm, label), [])
            if not rs:
                continue
            cells = []
            for pol in policies:
                mine = [r for r in rs if r["policy"] == pol]
                if not mine:
                    cells.append("-")
                    continue
                t = check_targets(mine)
                share = "" if t["gain_share"] is None else f" ({t['gain_share']:.2f})"
                cells.append(f"{100 * t['gain']:+.1f}%{share}")
            n = sum(r["policy"] == "oracle" for r in rs)
            lines.append(f"| {cm} | {label} | {n} | " + " | ".join(cells) + " |")
    lines.append("\nCells: geometric-mean gain over baseline (its share of the oracle's gain "
                 "in the same bucket).")
    return lines


def ceiling_summary(jobs: Sequence[dict[str, Any]]) -> list[str]:
    """Markdown lines: per cost model and held-out set (and the families pooled), what the
    safe ceiling allows (:mod:`cowrl.policies.ceiling`): its gain, the largest share of the
    oracle's gain any policy that meets the safety target on every trace can reach, the
    traces where none can be within 1.10 x the best fixed k, and each learned policy's gain
    as a share of the ceiling's. Empty when the jobs recorded no ceiling (written before it;
    ``experiments/safe_ceiling.py`` adds it to copies of them)."""
    rows: dict[tuple[str, str], dict[str, list[dict[str, Any]]]] = defaultdict(
        lambda: defaultdict(list))
    learned: set[str] = set()
    for j in jobs:
        for r in j.get("rows", []):
            if "ceiling_ratio" not in r:
                return []
            rows[(j["costmodel"], j["holdout"])][r["policy"]].append(r)
            if j["holdout"] in FAMILIES:
                rows[(j["costmodel"], "families pooled")][r["policy"]].append(r)
            if r.get("learned"):
                learned.add(r["policy"])
    if not rows:
        return []
    pols = sorted(learned, key=_order)
    lines = ["\n### what the safety target allows: the safe ceiling\n",
             "| cost model | held out | traces | oracle gain | ceiling gain | ceiling / oracle "
             "(the most any safe policy reaches) | traces no safe policy gets within 1.10 of "
             "best k | " + " | ".join(f"{p} (of ceiling)" for p in pols) + " |",
             "|---|---|---|---|---|---|---|" + "---|" * len(pols)]
    for (cm, hold), by_pol in sorted(rows.items(), key=lambda kv: (
            kv[0][0], kv[0][1] == "families pooled", kv[0][1])):
        ref = by_pol.get("oracle")
        if not ref:
            continue
        t = check_targets(ref)
        cs = "-" if t["ceiling_share"] is None else f"{t['ceiling_share']:.2f}"
        far = t["near_best_unreachable"]
        cells = []
        for p in pols:
            if p not in by_pol:
                cells.append("-")
                continue
            tp = check_targets(by_pol[p])
            oc = "" if tp["of_ceiling"] is None else f" ({tp['of_ceiling']:.2f})"
            cells.append(f"{100 * tp['gain']:+.1f}%{oc}")
        lines.append(f"| {cm} | {hold} | {len({r['trace'] for r in ref})} | "
                     f"{100 * t['oracle_gain']:+.1f}% | {100 * t['ceiling_gain']:+.1f}% | {cs} | "
                     f"{len(far)}{': ' + ', '.join(far[:4]) if far else ''}"
                     f"{', ...' if len(far) > 4 else ''} | " + " | ".join(cells) + " |")
    lines.append(
        "\nThe safe ceiling of a trace (cowrl/policies/ceiling.py; docs/policies.md, \"The "
        "safe ceiling\") is the lowest objective any precopy policy can have on it while "
        f"costing at most {TARGETS['safety']} x baseline on every prefix of it, as it must to "
        "meet the safety target on every trace (a prefix is a trace: the process exits "
        "there); it sees the future and copies any pages, so it bounds online and learned "
        "policies alike. Where ceiling / oracle is under "
        f"{TARGETS['gain_share']} the gain-share target cannot be met together with the "
        "safety target. The oracle may pick huge pages; the ceiling is for precopy.")
    return lines


def _order(policy: str) -> tuple[int, str]:
    ref = {"baseline": 9, "precopy": 6, "readahead": 5, "shield64": 4, "precopy_best": 7,
           "oracle": 8}
    return (ref.get(policy, 0), policy)


def resolve_dir(path: Any) -> Path | None:
    """A directory from the config: relative paths are from the project root, so every launcher
    finds the same files whatever its working directory (``data/...`` from the checkout's
    ``data/``, else the copy a wheel ships: :func:`cowrl.paths.project_path`)."""
    if path is None or str(path) == "":
        return None
    from cowrl.paths import project_path

    return project_path(str(path))


try:  # Hydra's callback base class (hydra-core >= 1.1)
    from hydra.experimental.callback import Callback as _Callback
except ImportError:  # pragma: no cover
    _Callback = object  # type: ignore[assignment,misc]


class GatherReport(_Callback):  # type: ignore[misc,valid-type]
    """Hydra callback: at the end of a multirun, gather every job into ``report.md``.

    It runs in the launching process, so it works with every launcher (joblib,
    submitit_local, submitit_slurm)."""

    def on_multirun_end(self, config: Any, **kwargs: Any) -> None:
        sweep = Path(str(config.hydra.sweep.dir))
        text = report(gather(sweep))
        (sweep / "report.md").write_text("# Generalization (leave one out)\n" + text + "\n")
        print(text)
        print(f"\nreport: {sweep / 'report.md'}")
