"""cowrl: adaptive precopy for Linux copy-on-write faults.

Importing ``cowrl`` imports nothing heavy: not gymnasium, torch, numba or numpy.
It registers ``cowrl/Precopy-v0`` with gymnasium when gymnasium is imported
(now, if it already is), so ``gymnasium.make("cowrl/Precopy-v0")`` works after
``import cowrl``.

The public API, each name imported from its module on first use::

    from cowrl import load_trace, make_policy, make_costmodel, simulate
    trace = load_trace("seq.npy")                 # or make_workload("seq", seed=0)
    record = simulate(trace, make_policy("guarded"), make_costmodel("seed_table1"))
    record.faults, record.precopied, record.wasted   # a RunRecord, as both targets give

``Trace``, ``load_trace``, ``save_trace`` (trace files, ``cowrl.traces.io``);
``make_policy``, ``make_workload``, ``make_costmodel`` (by ``conf/<group>/<name>.yaml``,
``cowrl.registry``); ``simulate``, ``CostModel`` (``cowrl.sim``); ``train`` (``train.py``'s
``train(cfg)``, ``cowrl.training``); the errors ``CowrlError``, ``ConfigError``,
``TraceError``. ``eval.py``'s ``evaluate(cfg)`` is ``cowrl.evaluate.evaluate``.
"""

import importlib
import importlib.abc
import importlib.util
import sys
from typing import Any


def _register_envs() -> None:
    envs = sys.modules.get("cowrl.envs")
    if envs is not None and not hasattr(envs, "register_envs"):
        return  # cowrl.envs itself is importing gymnasium; it registers when it is done
    from cowrl.envs import register_envs

    register_envs()


class _RegisterAfterGymnasium(importlib.abc.MetaPathFinder):
    """Import hook: once gymnasium has been imported, register cowrl's envs."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname != "gymnasium":
            return None
        sys.meta_path.remove(self)  # one shot; find the real gymnasium without us
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None:
            spec.loader = _ThenRegister(spec.loader)
        return spec


class _ThenRegister(importlib.abc.Loader):
    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def create_module(self, spec: Any) -> Any:
        return self.inner.create_module(spec)

    def exec_module(self, module: Any) -> None:
        self.inner.exec_module(module)
        _register_envs()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


if "gymnasium" in sys.modules:
    _register_envs()
elif not any(isinstance(f, _RegisterAfterGymnasium) for f in sys.meta_path):
    sys.meta_path.insert(0, _RegisterAfterGymnasium())

_EXPORTS = {
    "Trace": "cowrl.traces.io", "load_trace": "cowrl.traces.io", "save_trace": "cowrl.traces.io",
    "make_policy": "cowrl.registry", "make_workload": "cowrl.registry",
    "make_costmodel": "cowrl.registry", "simulate": "cowrl.sim.simulator",
    "CostModel": "cowrl.sim.costmodel", "train": "cowrl.training.core",
    "CowrlError": "cowrl.errors", "ConfigError": "cowrl.errors", "TraceError": "cowrl.errors",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    """The public names, imported from their modules on first use (``import cowrl`` stays light)."""
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'cowrl' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
