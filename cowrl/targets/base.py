"""The Target interface, the Plan it runs, and ``make_target`` (Hydra ``_target_``)."""

from __future__ import annotations

import abc
import importlib
import inspect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

from omegaconf import DictConfig, OmegaConf

from cowrl.errors import ConfigError
from cowrl.metrics import RunRecord
from cowrl.policies.base import Policy
from cowrl.sim.costmodel import CostModel
from cowrl.traces.io import Trace


class Run(NamedTuple):
    """One run of a plan: ``trace`` replayed under ``policy``."""

    policy: Policy
    trace: Trace


@dataclass
class Plan:
    """What a target runs, and what running it needs.

    ``runs`` are carried out in the order given (a target that repeats them
    rotates the policies within each trace's runs from one repetition to the
    next, see :func:`cowrl.kernel.backend.run_repeated`); ``run`` returns one
    RunRecord per run, in that order.
    """

    runs: Sequence[Run | tuple[Policy, Trace]]
    cost: CostModel
    """Prices simulated runs; measured targets record time instead (and report in
    the objective's units through it)."""
    seed: int = 0
    """Seeds the simulator's noise (each run starts from it)."""
    repeats: int | None = None
    """Runs per (policy, trace) on a measured target, median ``cow_ns`` kept; None = the
    target's own setting (``kernel.repeats``). The simulator is exact for a seed and
    runs each once."""
    progress: bool = False
    """Show a progress bar."""
    layout: str = "distinct"
    """Where a multi-writer trace's processes hold their regions (:data:`LAYOUTS`):
    ``distinct``, each region at pages of its own; ``one_address``, other processes' copies of
    a region (same virtual address and size) at its pages, as a fork's children hold their
    copies of a parent buffer (the simulator's ``shared``, the kernel harness's shared
    slots). A trace without such copies runs the same either way."""

    @property
    def shared(self) -> bool:
        """Whether the runs are in the one-address layout."""
        return self.layout == "one_address"


LAYOUTS = ("distinct", "one_address")
"""The values of :attr:`Plan.layout` (``eval.py layout=...``)."""


def layout_field(cfg: Mapping[str, Any]) -> str:
    """``cfg.layout`` (absent or null: ``distinct``), one of :data:`LAYOUTS`, or a one-line
    ConfigError naming ``layout``."""
    v = cfg.get("layout")
    if v is None:
        return "distinct"
    if not isinstance(v, str) or v not in LAYOUTS:
        raise ConfigError(f"layout must be one of {', '.join(LAYOUTS)}, got {v!r}")
    return v


class Target(abc.ABC):
    """Where the runs of a :class:`Plan` happen. Subclasses set the attributes below."""

    name: str = "target"
    """Short name, as in ``conf/target/<name>.yaml``; goes into every row's ``target``."""
    costmodel: str | None = None
    """The cost model ``eval.py costmodel=auto`` prices this target's runs with."""
    calibration_name: str = "target"
    """The cost model ``calibrate.py`` writes for this target by default."""
    measured: ClassVar[bool] = False
    """Records are measurements of a real system (not computed from a cost model)."""
    write_latencies: ClassVar[bool] = False
    """Records carry one latency per write (``RunRecord.write_ns``): what a fit needs."""

    def unsupported(self, policy: Policy, trace: Trace | None = None,
                    cost: CostModel | None = None) -> str | None:
        """Why ``policy`` cannot run here (on ``trace``, priced by ``cost``), or None."""
        return None

    @abc.abstractmethod
    def run(self, plan: Plan) -> list[RunRecord]:
        """Carry out every run of ``plan``; one RunRecord per run, in plan order."""

    def describe(self) -> dict[str, Any]:
        """Facts about this target for a results file's metadata."""
        return {"target": self.name, "measured": self.measured}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


def _container(spec: str | Mapping[str, Any] | DictConfig,
               kernel: Mapping[str, Any] | DictConfig | None) -> dict[str, Any]:
    """The target's config as a plain dict, interpolations (``${kernel}``) resolved."""
    from cowrl.registry import group_config

    where = "target"
    if isinstance(spec, DictConfig) and spec._get_parent() is not None:
        node: Any = spec  # part of a composed root config: ${kernel} resolves there
    else:
        if isinstance(spec, str):
            where = f"conf/target/{spec}.yaml"
            spec = group_config("target", spec, "target")
        kcfg = kernel if kernel is not None else group_config("kernel", "qemu", "kernel")
        root = OmegaConf.create({"target": spec, "kernel": kcfg})
        node = root.target
    if not isinstance(node, (DictConfig, Mapping)):
        raise ConfigError(f"target: expected a target name or config, got {node!r}")
    try:
        data = OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) \
            else dict(node)
    except Exception as e:  # noqa: BLE001 - an interpolation error, said in one line
        raise ConfigError(f"target: {str(e).splitlines()[0]}") from None
    assert isinstance(data, dict)
    if "_target_" not in data:
        raise ConfigError(f"target._target_: missing in {where} (the class to build, "
                          "e.g. cowrl.targets.sim.SimTarget)")
    return data


def make_target(spec: str | Mapping[str, Any] | DictConfig,
                kernel: Mapping[str, Any] | DictConfig | None = None) -> Any:
    """Build a target from ``conf/target/<spec>.yaml`` or a config with ``_target_``.

    ``kernel`` fills ``${kernel}`` when ``spec`` is not part of a composed config
    (default: ``conf/kernel/qemu.yaml``). Bad names, classes and fields give a
    one-line :class:`ConfigError` naming ``target.<field>``. Returns a
    :class:`Target`, or, for ``target=host`` (calibration only), a
    :class:`~cowrl.targets.hostbench.HostBench`.
    """
    from cowrl.registry import build

    data = _container(spec, kernel)
    path = str(data["_target_"])
    module, _, attr = path.rpartition(".")
    try:  # not hydra.utils.get_class: it logs a multi-line error before raising
        cls = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError, ValueError):
        raise ConfigError(f"target._target_: cannot import the class {path!r}") from None
    if not inspect.isclass(cls):
        raise ConfigError(f"target._target_: {path!r} is not a class")
    params = inspect.signature(cls).parameters
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        unknown = sorted(set(data) - set(params) - {"_target_"})
        if unknown:
            raise ConfigError(f"target.{unknown[0]}: unknown field of {cls.__name__} "
                              f"(known: {', '.join(sorted(params))})")
    return build(data, f"target {data.get('name', path)}")
