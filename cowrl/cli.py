"""Entry-script glue: user errors become one line on stderr and exit status 2."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from omegaconf import DictConfig

from cowrl.errors import CowrlError


def run_cli(fn: Callable[[DictConfig], Any], cfg: DictConfig) -> Any:
    try:
        return fn(cfg)
    except CowrlError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
