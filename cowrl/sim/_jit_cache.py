"""numba's on-disk cache, keyed on every file the compiled replay is built from.

numba invalidates a cached function when *its* source file changes, not when a
function it calls (and inlines) does: ``engine.replay`` inlines code from
``context.py``, ``programs.py`` and ``costmodel.py``, and the vector env's step
inlines ``replay``. Editing ``context.py`` (a new feature, say) would leave the
old one compiled into a stale ``replay``. This locator gives every cached
function in ``cowrl/sim/`` and ``cowrl/envs/`` a source stamp made of all those
files, so an edit to any of them recompiles the lot. Installed when this module
is imported, which ``cowrl/sim/__init__.py`` does before anything is decorated.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path
from typing import Any

from numba.core import caching

_PKG = Path(__file__).resolve().parent.parent
_WATCHED = (_PKG / "sim", _PKG / "envs")


@functools.lru_cache(maxsize=8)
def _digest(files: tuple[tuple[str, int, int], ...]) -> str:
    """sha256 of the files' names and contents (memoized on their mtimes and sizes)."""
    h = hashlib.sha256()
    for path, _, _ in files:
        h.update(Path(path).name.encode())
        h.update(Path(path).read_bytes())
    return h.hexdigest()


class _PackageStampLocator(caching.InTreeCacheLocator):
    """In-tree cache (``__pycache__``) whose source stamp covers ``cowrl/sim`` and
    ``cowrl/envs`` as a whole."""

    def get_source_stamp(self) -> Any:
        files = tuple(sorted((str(p), p.stat().st_mtime_ns, p.stat().st_size)
                             for d in _WATCHED for p in d.glob("*.py")))
        return _digest(files)

    @classmethod
    def from_function(cls, py_func: Any, py_file: str) -> Any:
        if Path(py_file).resolve().parent not in _WATCHED:
            return None
        return super().from_function(py_func, py_file)


def install() -> None:
    """Put the locator first in numba's list (idempotent)."""
    classes = caching.CacheImpl._locator_classes
    if _PackageStampLocator not in classes:
        classes.insert(0, _PackageStampLocator)


install()  # at import: cowrl/sim/__init__.py imports this module before the others
