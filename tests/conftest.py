"""Shared fixtures."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

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


def run_experiment(script: str, *args: str, tmp: Path, status: int = 0,
                   timeout: float = 300) -> str:
    """``experiments/<script>.py args`` from the project root; its stdout, or, with a nonzero
    ``status`` (the exit status it must end with), its one-line ``error: ...`` message. The
    validation directory it would default to is replaced by an absent one under ``tmp``."""
    env = {**os.environ, "PYTHONPATH": str(ROOT),
           "COWRL_VALIDATION_DIR": str(tmp / "no_validation")}
    res = subprocess.run([sys.executable, str(ROOT / "experiments" / f"{script}.py"), *args],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    assert res.returncode == status, (res.stdout[-2000:], res.stderr[-3000:])
    if status:
        err = res.stderr.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: "), res.stderr
        return err[0]
    return res.stdout


def table_rows(out: str, ncols: int) -> dict[str, list[str]]:
    """The rows of the markdown tables in ``out`` with ``ncols`` cells, by their first cell."""
    return {c[0].lstrip("| "): c for c in (ln.rstrip(" |").split(" | ")
                                           for ln in out.splitlines()) if len(c) == ncols}


def assert_compiled_equals_prototype(trace: Any, policy: Any, cost: Any) -> Any:
    """Simulate ``policy`` on ``trace`` in the one-address layout with the Python prototype
    and with its compiled program; assert they agree fault for fault (pages, copies, skips)
    and in the totals and latencies; return the compiled run's result."""
    import numpy as np

    from cowrl.sim.simulator import simulate

    ref, ev_ref = simulate(trace, policy, cost, record_events=True, fast=False, shared=True)
    got, ev_got = simulate(trace, policy, cost, record_events=True, fast=True, shared=True)
    assert np.array_equal(ev_ref.page, ev_got.page), trace.name
    assert np.array_equal(ev_ref.precopied, ev_got.precopied), trace.name
    assert np.array_equal(ev_ref.skipped, ev_got.skipped), trace.name
    assert (ref.faults, ref.precopied, ref.wasted) == (got.faults, got.precopied,
                                                       got.wasted), trace.name
    assert np.allclose(ref.fault_ns, got.fault_ns), trace.name
    return got


def forked_trace(*writes: list[int], size: int) -> Any:
    """A forked family's trace: processes 0, 1, ... each writing its own copy (a region of
    ``size`` pages at :data:`~cowrl.traces.generators.FORK_START`, one address for all) of
    one buffer, one after the other; ``writes[r]``: process r's pages (0-based in the
    buffer)."""
    import numpy as np

    from cowrl.traces.generators import FORK_START
    from cowrl.traces.io import Trace

    pages = np.concatenate([np.asarray(w, dtype=np.int64) + r * size
                            for r, w in enumerate(writes)])
    n = len(writes)
    return Trace(pages=pages, n_pages=n * size, name="forked",
                 region_sizes=np.full(n, size, dtype=np.int64),
                 region_starts=np.full(n, FORK_START, dtype=np.uint64),
                 region_writers=np.arange(n, dtype=np.int32))
