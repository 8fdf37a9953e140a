"""A non-editable install (``pip install .``) carries the Hydra configs; the lookup finds them."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from cowrl.confdir import MARKER, find_conf_dir, require_conf_dir
from cowrl.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent


def _conf(d: Path) -> Path:
    d.mkdir(parents=True)
    (d / MARKER).write_text("x: 1\n")
    return d


def test_conf_dir_lookup(tmp_path: Path) -> None:
    checkout, shipped = tmp_path / "conf", tmp_path / "cowrl" / "conf"
    with pytest.raises(ConfigError) as e:
        require_conf_dir((checkout, shipped))
    msg = str(e.value)
    assert msg.startswith("conf: the Hydra config directory is missing") and "\n" not in msg
    assert str(checkout) in msg and str(shipped) in msg
    _conf(shipped)
    assert find_conf_dir((checkout, shipped)) == shipped
    checkout.mkdir()  # a conf/ without the configs is not taken
    assert require_conf_dir((checkout, shipped)) == shipped
    (checkout / MARKER).write_text("x: 1\n")
    assert require_conf_dir((checkout, shipped)) == checkout  # the checkout's first


def _probe(site: Path) -> subprocess.CompletedProcess[str]:
    """The installed package's config directory and a cost model made from it."""
    code = "import cowrl.registry as r; print(r.CONF_DIR); print(r.make_costmodel('tcg').name)"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=site.parent, env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"},
                          timeout=120)


def test_wheel_ships_conf_and_finds_it(tmp_path: Path) -> None:
    """Build the wheel (no index, no build isolation) from a copy of the sources, install it
    into a directory and make a cost model from it: the configs come from cowrl/conf."""
    pytest.importorskip("setuptools", minversion="70.1")  # builds wheels without `wheel`
    src = tmp_path / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for d in ("cowrl", "conf"):
        shutil.copytree(ROOT / d, src / d, ignore=ignore)
    shutil.copy(ROOT / "pyproject.toml", src)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-index",
                    "--no-build-isolation", "-w", str(tmp_path / "dist"), str(src)],
                   check=True, capture_output=True, text=True, timeout=300)
    (wheel,) = (tmp_path / "dist").glob("cowrl-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    want = {f"cowrl/conf/{p.relative_to(ROOT / 'conf')}" for p in (ROOT / "conf").rglob("*.yaml")}
    want |= {str(p.relative_to(ROOT)) for p in (ROOT / "cowrl").rglob("*")
             if p.is_file() and "__pycache__" not in p.parts}
    assert want - names == set()  # every config, module and data file of the package
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index",
                    "--target", str(site), str(wheel)],
                   check=True, capture_output=True, text=True, timeout=300)
    out = _probe(site)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [str(site / "cowrl" / "conf"), "tcg"]
    shutil.rmtree(site / "cowrl" / "conf")  # and without it: one line naming where it looked
    out = _probe(site)
    assert out.returncode != 0
    assert (f"ConfigError: conf: the Hydra config directory is missing (no {MARKER} in "
            f"{site / 'conf'} or {site / 'cowrl' / 'conf'})") in out.stderr
