"""User-facing errors: one line, naming the field or file at fault."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any


class CowrlError(Exception):
    """Bad input from the user (config, trace file, arguments). Printed as one line."""


class TraceError(CowrlError):
    """A trace file or array is malformed or unreadable."""


class ConfigError(CowrlError):
    """A config field has an invalid value."""


class TargetUnavailable(CowrlError):
    """A target (kernel runner) cannot run here; the message says what is missing."""


def int_field(cfg: Mapping[str, Any], key: str, minimum: int, default: int | None = None
              ) -> int:
    """``cfg[key]`` as an int ``>= minimum`` (``default``, if given, when absent or null), or
    a ConfigError naming ``key``."""
    v = cfg.get(key)
    if v is None and default is not None:
        return default
    if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
        raise ConfigError(f"{key} must be an integer >= {minimum}, got {v!r}")
    return int(v)


def number_field(cfg: Mapping[str, Any], key: str, minimum: float) -> float:
    """``cfg[key]`` as a finite float ``>= minimum``, or a ConfigError naming ``key``."""
    v = cfg.get(key)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise ConfigError(f"{key} must be a finite number, got {v!r}")
    if v < minimum:
        raise ConfigError(f"{key} must be >= {minimum:g}, got {float(v)}")
    return float(v)


def bool_field(cfg: Mapping[str, Any], key: str, default: bool) -> bool:
    """``cfg[key]`` (``default`` when absent or null) as a bool, or a ConfigError naming
    ``key``: ``plots=maybe`` is an error, not true."""
    v = cfg.get(key)
    if v is None:
        return default
    if not isinstance(v, bool):
        raise ConfigError(f"{key} must be true or false, got {v!r}")
    return v


def names_field(cfg: Mapping[str, Any], key: str) -> list[str]:
    """``cfg[key]``, a list of names (one name alone, or none when absent or null, allowed),
    as distinct strings, or a ConfigError naming ``key``."""
    value = cfg.get(key) or []
    if isinstance(value, str):
        value = [value]
    if isinstance(value, Mapping) or not isinstance(value, Iterable):
        raise ConfigError(f"{key}: expected a list of names, got {value!r}")
    names = [str(v) for v in value]
    if len(set(names)) != len(names):
        raise ConfigError(f"{key}: duplicate names in {names}")
    return names


def read_json(path: str | Path, field: str) -> Any:
    """The JSON in file ``path``, or a one-line ConfigError naming ``field`` and the file
    (missing, unreadable, truncated or not JSON)."""
    p = Path(path)
    try:
        return json.loads(p.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{field}: no such file {p}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{field}: cannot read {p} ({getattr(e, 'strerror', None) or e})"
                          ) from None
    except json.JSONDecodeError as e:
        raise ConfigError(f"{field}: {p} is not valid JSON ({e})") from None


def yaml_error(e: Exception, field: str) -> ConfigError:
    """A YAML syntax error (``yaml.YAMLError``, from OmegaConf or Hydra) as a one-line
    ConfigError naming ``field``, the file, and the line and column of the problem."""
    mark = getattr(e, "problem_mark", None)
    where = f"{mark.name}, line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    problem = getattr(e, "problem", None) or (str(e).splitlines() or [type(e).__name__])[0]
    return ConfigError(f"{field}: {where or 'a config file'} is not valid YAML ({problem})")


def parse_json(text: str, field: str) -> Any:
    """``text`` (a command-line option) parsed as JSON, or a one-line ConfigError naming
    ``field``."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise ConfigError(f"{field}: not valid JSON ({e}): {text!r}") from None
