"""Shared fixtures."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

ROOT = Path(__file__).resolve().parent.parent
CONF = ROOT / "conf"


@pytest.fixture
def compose_cfg() -> Callable[..., DictConfig]:
    """Compose a root config (``eval``, ``train``, ...) with overrides, as the CLI would."""

    def _compose(name: str, overrides: list[str]) -> DictConfig:
        from cowrl.evaluate import register_configs

        register_configs()  # eval.yaml's schema node, as eval.py registers it
        with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
            return compose(config_name=name, overrides=overrides)

    return _compose


@pytest.fixture
def python() -> str:
    return sys.executable


def load_experiment(name: str) -> ModuleType:
    """``experiments/<name>.py`` as a module (the experiments are scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "experiments" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod  # dataclasses resolve their module through sys.modules
    spec.loader.exec_module(mod)
    return mod
