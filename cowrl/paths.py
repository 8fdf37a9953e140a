"""Where the project's non-Python directories are: ``conf/``, ``kernel_module/`` and ``data/``
beside the package (a source checkout, or an editable install such as ``make setup``'s), else
the copy a wheel ships inside it (``cowrl/conf``, ``cowrl/kernel_module``, ``cowrl/data``, from
``pip install .``; pyproject.toml maps them). A wheel's ``cowrl/data`` holds the recorded
corpus (``data/traces``) only.

Standard library only: the qemu guest imports it (through :mod:`cowrl.kernel.abi`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from cowrl.errors import ConfigError, CowrlError, TargetUnavailable, TraceError

PKG = Path(__file__).resolve().parent
CHECKOUT = PKG.parent
"""The directory holding the ``cowrl`` package: a source checkout's root (in a wheel install,
site-packages)."""

DIRS: dict[str, tuple[str, str, type[CowrlError]]] = {
    "conf": ("eval.yaml", "the Hydra config directory", ConfigError),
    "kernel_module": ("cowrl_uapi.h", "the kernel module's source directory", TargetUnavailable),
    "data": ("traces", "the recorded corpus's directory", TraceError),
}
"""Each located directory: the file (or directory) inside it that marks it, what it is (for the
error), and the error a missing one raises."""


def candidates(name: str) -> tuple[Path, Path]:
    """Where ``name`` is looked for: the checkout's ``name/`` first, then the wheel's copy."""
    return (CHECKOUT / name, PKG / name)


def checkout_or_package(name: str, marker: str, places: Sequence[Path] | None = None
                        ) -> Path | None:
    """The first of ``places`` (default :func:`candidates`) holding ``marker``, or None."""
    places = candidates(name) if places is None else places
    return next((Path(d) for d in places if (Path(d) / marker).exists()), None)


def require(name: str, places: Sequence[Path] | None = None) -> Path:
    """:func:`checkout_or_package` of one of :data:`DIRS`, or its one-line error naming the
    directory and the places looked in."""
    marker, what, error = DIRS[name]
    places = candidates(name) if places is None else places
    found = checkout_or_package(name, marker, places)
    if found is None:
        raise error(f"{name}: {what} is missing (no {marker} in "
                    f"{' or '.join(str(d) for d in places)}); install from the source checkout "
                    "with `make setup` (editable) or `pip install .`")
    return found


def place(name: str) -> Path:
    """Where ``name`` is (:func:`require`), or, where it is nowhere, the checkout's place: for
    module constants, which must not fail at import; using one that is missing goes through
    :func:`require` for the one-line error."""
    marker = DIRS[name][0]
    return checkout_or_package(name, marker) or candidates(name)[0]


def project_path(path: str | Path) -> Path:
    """A path the configs give relative to the project root (``data/traces/x.npz``): under
    ``conf/``, ``kernel_module/`` or ``data/`` from where that directory is found (the
    checkout's or the wheel's copy; a one-line error if it is in neither), anything else from
    :data:`CHECKOUT`. Absolute paths are returned as they are."""
    p = Path(path).expanduser()
    if p.is_absolute():
        return p
    if p.parts and p.parts[0] in DIRS:
        return require(p.parts[0]).joinpath(*p.parts[1:])
    return CHECKOUT / p
