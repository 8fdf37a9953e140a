"""Where the Hydra configs are: ``conf/`` beside the package (a source checkout, or an editable
install such as ``make setup``'s), else the copy a wheel ships inside it (``cowrl/conf``, from
``pip install .``; pyproject.toml maps it). The lookup is :mod:`cowrl.paths`'s, shared with
``kernel_module/`` and ``data/``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from cowrl import paths

PKG = paths.PKG
CANDIDATES = paths.candidates("conf")
"""The checkout's ``conf/`` first (what the entry scripts' ``@hydra.main`` reads), then the
wheel's copy."""
MARKER = paths.DIRS["conf"][0]


def find_conf_dir(candidates: Sequence[Path] = CANDIDATES) -> Path | None:
    """The first of ``candidates`` holding the configs (``eval.yaml``), or None."""
    return paths.checkout_or_package("conf", MARKER, candidates)


def require_conf_dir(candidates: Sequence[Path] = CANDIDATES) -> Path:
    """:func:`find_conf_dir`, or a one-line ConfigError naming the places looked in."""
    return paths.require("conf", candidates)


CONF_DIR = find_conf_dir() or CANDIDATES[0]
"""The configs' directory; where none was found, the checkout's place, and
:func:`require_conf_dir` says so in one line."""
