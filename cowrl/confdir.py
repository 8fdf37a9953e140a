"""Where the Hydra configs are: ``conf/`` beside the package (a source checkout, or an editable
install such as ``make setup``'s), else the copy a wheel ships inside it (``cowrl/conf``, from
``pip install .``; pyproject.toml maps it)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from cowrl.errors import ConfigError

PKG = Path(__file__).resolve().parent
CANDIDATES = (PKG.parent / "conf", PKG / "conf")
"""The checkout's ``conf/`` first (what the entry scripts' ``@hydra.main`` reads), then the
wheel's copy."""
MARKER = "eval.yaml"


def find_conf_dir(candidates: Sequence[Path] = CANDIDATES) -> Path | None:
    """The first of ``candidates`` holding the configs (``eval.yaml``), or None."""
    return next((Path(d) for d in candidates if (Path(d) / MARKER).is_file()), None)


def require_conf_dir(candidates: Sequence[Path] = CANDIDATES) -> Path:
    """:func:`find_conf_dir`, or a one-line ConfigError naming the places looked in."""
    found = find_conf_dir(candidates)
    if found is None:
        raise ConfigError(f"conf: the Hydra config directory is missing (no {MARKER} in "
                          f"{' or '.join(str(d) for d in candidates)}); install from the "
                          "source checkout with `make setup` (editable) or `pip install .`")
    return found


CONF_DIR = find_conf_dir() or CANDIDATES[0]
"""The configs' directory; where none was found, the checkout's place, and
:func:`require_conf_dir` says so in one line."""
