"""Build policies, workloads and cost models by name from ``conf/<group>/<name>.yaml``.

Hydra selects one option of a group per run (``costmodel=tcg``); lists of
names (``policies=[baseline,precopy]``) are resolved here, from the same
files, with ``hydra.utils.instantiate``.
"""

from __future__ import annotations

from typing import Any

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from cowrl.confdir import CONF_DIR, require_conf_dir
from cowrl.errors import ConfigError
from cowrl.policies.base import Policy
from cowrl.sim.costmodel import CostModel
from cowrl.traces.io import Trace


def available(group: str) -> list[str]:
    """The option names of ``conf/<group>``; a one-line ConfigError if conf/ is missing."""
    return sorted(p.stem for p in (require_conf_dir() / group).glob("*.yaml"))


def group_config(group: str, name: str, field: str | None = None) -> DictConfig:
    """The YAML of option ``name`` in ``group``; a one-line error naming ``field`` if unknown."""
    path = CONF_DIR / group / f"{name}.yaml"
    if not path.is_file():
        raise ConfigError(
            f"{field or group}: unknown {group} {name!r} (available: {', '.join(available(group))})"
        )
    cfg = OmegaConf.load(path)
    assert isinstance(cfg, DictConfig)
    return cfg


def build(cfg: DictConfig | dict[str, Any], what: str, **overrides: Any) -> Any:
    """``instantiate`` with ConfigError (naming ``what``) instead of Hydra's long traceback."""
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
    cfg = OmegaConf.create(OmegaConf.to_container(cfg, resolve=False))  # type: ignore[arg-type]
    if "lam" in cfg and cfg.lam is None:
        cfg.lam = lam
    return build(cfg, f"policy {cfg.get('name', spec)}")


def make_workload(spec: str | DictConfig | dict[str, Any], seed: int = 0, **params: Any) -> Trace:
    """A trace from a workload name (``conf/workload/<name>.yaml``) or a generator config.

    ``params`` override the generator's parameters (``n_pages``, ``writes``, ...).
    """
    cfg = group_config("workload", spec, "workloads") if isinstance(spec, str) else spec
    return build(cfg, f"workload {spec if isinstance(spec, str) else cfg.get('name')}",
                 seed=seed, **params)


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
    return build(cfg, field)
