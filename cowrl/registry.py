"""Build policies, workloads and cost models by name from ``conf/<group>/<name>.yaml``.

Hydra selects one option of a group per run (``costmodel=tcg``); lists of
names (``policies=[baseline,precopy]``) are resolved here, from the same
files, with ``hydra.utils.instantiate``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import yaml
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from cowrl.confdir import CONF_DIR, require_conf_dir
from cowrl.errors import ConfigError, yaml_error
from cowrl.policies.base import Policy
from cowrl.sim.costmodel import CostModel
from cowrl.traces.io import Trace


def available(group: str) -> list[str]:
    """The option names of ``conf/<group>``; a one-line ConfigError if conf/ is missing."""
    return sorted(p.stem for p in (require_conf_dir() / group).glob("*.yaml"))


RETIRED = {("policy", "guarded_stride"): "strided windows are the default guarded since "
           "session 30 (stride_window: 1); use guarded, or guarded_adjacent for adjacent "
           "windows"}
"""Config names that are gone, and what to ask for instead."""


def group_config(group: str, name: str, field: str | None = None) -> DictConfig:
    """The YAML of option ``name`` in ``group``; a one-line error naming ``field`` if unknown
    (or retired: :data:`RETIRED`)."""
    path = CONF_DIR / group / f"{name}.yaml"
    if not path.is_file() and (group, name) in RETIRED:
        raise ConfigError(f"{field or group}: {group} {name!r} is gone: {RETIRED[group, name]}")
    if not path.is_file():
        raise ConfigError(
            f"{field or group}: unknown {group} {name!r} (available: {', '.join(available(group))})"
        )
    try:
        cfg = OmegaConf.load(path)
    except yaml.YAMLError as e:
        raise yaml_error(e, field or group) from None
    if not isinstance(cfg, DictConfig):
        raise ConfigError(f"{field or group}: {path} must hold a mapping of fields "
                          f"(_target_: ..., name: ...), not a list")
    return cfg


def build(cfg: DictConfig | dict[str, Any], what: str, **overrides: Any) -> Any:
    """``instantiate`` with ConfigError (naming ``what``) instead of Hydra's long traceback;
    a config without ``_target_`` (an empty file) is an error, not a dict handed on."""
    if not isinstance(cfg, Mapping) or "_target_" not in cfg:
        raise ConfigError(f"{what}: no _target_ field (the class or function that builds it; "
                          "compare the files of conf/)")
    try:
        return instantiate(cfg, **overrides, _convert_="all")
    except ConfigError:
        raise
    except Exception as e:  # hydra wraps the real cause; surface it in one line
        cause: BaseException = e
        while cause.__cause__ is not None:
            cause = cause.__cause__
        if isinstance(cause, ConfigError):
            raise ConfigError(str(cause)) from None
        raise ConfigError(f"{what}: {str(cause).splitlines()[0]}") from None


def make_policy(spec: str | DictConfig | dict[str, Any], lam: float = 1.0) -> Policy | Any:
    """A policy from its name (``conf/policy/<name>.yaml``) or a config with ``_target_``.

    A config of a policy that ``train.py`` makes (``ppo``, ``dqn``) builds its trainer
    spec instead (``trainer`` attribute; ``cowrl.training.TRAINERS``).
    """
    cfg = group_config("policy", spec, "policies") if isinstance(spec, str) else spec
    cfg = OmegaConf.create(OmegaConf.to_container(cfg, resolve=False)  # type: ignore[arg-type]
                           if isinstance(cfg, DictConfig) else dict(cfg))  # a plain dict too
    if "lam" in cfg and cfg.lam is None:
        cfg.lam = lam
    # a file names itself by its option (conf/policy/mine.yaml copied from guarded.yaml still
    # says name: guarded), a config by its name
    what = f"policy {spec}" if isinstance(spec, str) else f"policy {cfg.get('name', spec)}"
    name = cfg.get("name")
    if name is not None and (not isinstance(name, str) or not name):
        raise ConfigError(f"{what}: name must be a non-empty string (the row's name), "
                          f"got {name!r}")
    # a Policy, or a trainer spec; duck-typed (tests/test_layout.py: no isinstance on them)
    return _built(build(cfg, what), what, "policy", cfg,
                  lambda p: callable(getattr(p, "decide", None))
                  or getattr(p, "trainer", None) is not None)


def make_workload(spec: str | DictConfig | dict[str, Any], seed: int = 0, **params: Any) -> Trace:
    """A trace from a workload name (``conf/workload/<name>.yaml``) or a generator config.

    ``params`` override the generator's parameters (``n_pages``, ``writes``, ...).
    """
    cfg = group_config("workload", spec, "workloads") if isinstance(spec, str) else spec
    what = f"workload {spec if isinstance(spec, str) else cfg.get('name')}"
    return _built(build(cfg, what, seed=seed, **params), what, "trace", cfg,
                  lambda t: isinstance(t, Trace))


def _built(obj: Any, what: str, noun: str, cfg: Mapping[str, Any],
           ok: Callable[[Any], bool]) -> Any:
    """``obj`` if ``ok(obj)``, else a one-line ConfigError naming ``what``: its ``_target_``
    builds something else than a ``noun``."""
    if not ok(obj):
        raise ConfigError(f"{what}: _target_ {cfg.get('_target_')!r} built a "
                          f"{type(obj).__name__}, not a {noun}")
    return obj


def workload_params(cfg: DictConfig | dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``cfg.workload_params`` (per-workload generator overrides, ``workload_params.seq.n_pages``
    in eval.py, ``+workload_params.rand0.exclude`` in train.py) as plain dicts by workload."""
    params = cfg.get("workload_params") or {}
    if isinstance(params, DictConfig):
        params = OmegaConf.to_container(params, resolve=True)
    if not isinstance(params, dict):
        raise ConfigError(f"workload_params: expected parameters by workload name "
                          f"(workload_params.seq.n_pages=...), got {params!r}")
    out: dict[str, dict[str, Any]] = {}
    for name, value in params.items():
        if not isinstance(value, dict):
            raise ConfigError(f"workload_params.{name}: expected generator parameters "
                              f"(workload_params.{name}.n_pages=...), got {value!r}")
        out[str(name)] = dict(value)
    return out


def make_costmodel(spec: str | DictConfig | dict[str, Any], field: str = "costmodel"
                   ) -> CostModel:
    """A cost model from a name (``conf/costmodel/<name>.yaml``) or a config; errors name
    ``field`` (the setting the spec came from)."""
    cfg = group_config("costmodel", spec, field) if isinstance(spec, str) else spec
    if isinstance(cfg, Mapping) and cfg.get("name") == "auto" and "_target_" not in cfg:
        # conf/costmodel/auto.yaml is no model: eval.py replaces it with target.costmodel
        known = ", ".join(n for n in available("costmodel") if n != "auto")
        raise ConfigError(f"{field}: auto (the target's own cost model) is eval.py's only; "
                          f"name one here ({known})")
    # the fields' own checks (types, finite ns >= 0) are CostModel's, at construction; a
    # named file's errors also name it (costmodel mybox: no _target_ field ...)
    what = f"{field} {spec}" if isinstance(spec, str) else field
    cost = _built(build(cfg, what), what, "cost model", cfg,
                  lambda c: isinstance(c, CostModel))
    if cost.copy_ns <= 0:  # the objective prices waste, and ratios divide, in page copies
        raise ConfigError(f"{field}.copy_ns must be > 0 (a page copy: the unit of the waste "
                          f"penalty), got {cost.copy_ns}")
    return cost
