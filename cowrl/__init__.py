"""cowrl: adaptive precopy for Linux copy-on-write faults.

Importing ``cowrl`` (or any ``cowrl.*`` module) imports nothing heavy: not
gymnasium, torch or numba. It registers ``cowrl/Precopy-v0`` with gymnasium
when gymnasium is imported (now, if it already is), so
``gymnasium.make("cowrl/Precopy-v0")`` works after ``import cowrl``.
"""

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
