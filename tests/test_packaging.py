"""A non-editable install (``pip install .``) carries the Hydra configs, the kernel module's
sources and the recorded corpus (not the held-out data/unseen); the lookup finds them."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from cowrl import paths
from cowrl.confdir import MARKER, find_conf_dir, require_conf_dir
from cowrl.errors import ConfigError, TargetUnavailable, TraceError

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


def test_kernel_module_and_data_lookup(tmp_path: Path) -> None:
    """The same lookup for kernel_module/ and data/: the checkout's first, each error one line
    naming the directory and both places; a config's data/... path follows the data found."""
    for name, marker, error in (("kernel_module", "cowrl_uapi.h", TargetUnavailable),
                                ("data", "traces", TraceError)):
        checkout, shipped = tmp_path / name, tmp_path / "cowrl" / name
        with pytest.raises(error) as e:
            paths.require(name, (checkout, shipped))
        msg = str(e.value)
        assert msg.startswith(f"{name}: ") and "is missing" in msg and "\n" not in msg
        assert f"no {marker} in {checkout} or {shipped}" in msg
        shipped.mkdir(parents=True)
        (shipped / marker).touch()
        assert paths.require(name, (checkout, shipped)) == shipped
        checkout.mkdir()  # an empty directory is not taken
        assert paths.checkout_or_package(name, marker, (checkout, shipped)) == shipped
        (checkout / marker).touch()
        assert paths.require(name, (checkout, shipped)) == checkout
    # in this checkout: its own directories
    assert paths.project_path("data/traces/x.npz") == ROOT / "data" / "traces" / "x.npz"
    assert paths.project_path("kernel_module") == ROOT / "kernel_module"
    assert paths.project_path("../shared/v") == ROOT / ".." / "shared" / "v"
    assert paths.project_path(tmp_path / "a.npz") == tmp_path / "a.npz"


SHIPPED_DIRS = ("cowrl", "conf", "kernel_module", "data")


def _tracked(d: str) -> set[str]:
    return {str(p.relative_to(ROOT)) for p in (ROOT / d).rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel built (no index, no build isolation) from a copy of the sources: the package,
    conf/, kernel_module/ and all of data/ (held-out directories included, to see them left
    out)."""
    pytest.importorskip("setuptools", minversion="70.1")  # builds wheels without `wheel`
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for d in SHIPPED_DIRS:
        shutil.copytree(ROOT / d, src / d, ignore=ignore)
    shutil.copy(ROOT / "pyproject.toml", src)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-index",
                    "--no-build-isolation", "-w", str(tmp / "dist"), str(src)],
                   check=True, capture_output=True, text=True, timeout=300)
    (whl,) = (tmp / "dist").glob("cowrl-*.whl")
    return whl


def _install(wheel: Path, site: Path) -> Path:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index",
                    "--target", str(site), str(wheel)],
                   check=True, capture_output=True, text=True, timeout=300)
    return site


def _run(site: Path, code: str) -> subprocess.CompletedProcess[str]:
    """``code`` run against the installed copy only (outside the checkout)."""
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=site.parent, env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"},
                          timeout=120)


def test_wheel_contents(wheel: Path) -> None:
    """Every module and data file of the package, every config, every file of kernel_module/
    (what build.py hashes, copies and compiles, and the guest's /init) and the recorded corpus
    data/traces; nothing else of data/ (data/unseen is held out: never shipped)."""
    names = set(zipfile.ZipFile(wheel).namelist())
    want = _tracked("cowrl") | {f"cowrl/{f}" for d in ("conf", "kernel_module")
                                for f in _tracked(d)}
    corpus = {f"cowrl/{f}" for f in _tracked("data/traces")}
    assert {"cowrl/kernel_module/cowrl_uapi.h", "cowrl/kernel_module/harness/cowrl_region.h",
            "cowrl/kernel_module/initramfs/init", "cowrl/kernel_module/Makefile",
            "cowrl/data/traces/redis_bgsave.npz"} <= want | corpus
    assert want - names == set()
    assert {n for n in names if n.startswith("cowrl/data/")} == corpus


def _probe(site: Path) -> subprocess.CompletedProcess[str]:
    """The installed package's config directory and a cost model made from it."""
    return _run(site, "import cowrl.registry as r; print(r.CONF_DIR); "
                      "print(r.make_costmodel('tcg').name)")


def test_wheel_finds_conf(wheel: Path, tmp_path: Path) -> None:
    """Install the wheel into a directory and make a cost model from it: the configs come
    from cowrl/conf."""
    site = _install(wheel, tmp_path / "site")
    out = _probe(site)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [str(site / "cowrl" / "conf"), "tcg"]
    shutil.rmtree(site / "cowrl" / "conf")  # and without it: one line naming where it looked
    out = _probe(site)
    assert out.returncode != 0
    assert (f"ConfigError: conf: the Hydra config directory is missing (no {MARKER} in "
            f"{site / 'conf'} or {site / 'cowrl' / 'conf'})") in out.stderr


KERNEL_PROBE = """
import cowrl.kernel.abi as abi
from cowrl.kernel import build
from cowrl.calibration import host
print(abi.UAPI_HEADER, abi.load_abi().version, build.SOURCE_DIR, build.source_hash(),
      host.BENCH_HEADER)
"""
CORPUS_PROBE = """
from cowrl.registry import make_workload
from cowrl.generalization import resolve_dir, app_traces
t, d = make_workload("redis_bgsave"), resolve_dir("data/traces")
print(t.meta["source"], t.writes, d, len(app_traces(d)))
"""


def test_wheel_finds_kernel_module_and_corpus(wheel: Path, tmp_path: Path) -> None:
    """From the installed copy: the ABI is parsed from cowrl/kernel_module, the module's sources
    hash as the checkout's (the same files), and a corpus workload loads from cowrl/data; with
    either directory removed, one line names it and the places looked in."""
    from cowrl.generalization import app_traces
    from cowrl.kernel import abi, build
    from cowrl.registry import make_workload

    site = _install(wheel, tmp_path / "site")
    km, data = site / "cowrl" / "kernel_module", site / "cowrl" / "data"
    out = _run(site, KERNEL_PROBE)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [str(km / "cowrl_uapi.h"), str(abi.load_abi().version), str(km),
                                  build.source_hash(), str(km / "harness" / "cowrl_region.h")]
    out = _run(site, CORPUS_PROBE)
    assert out.returncode == 0, out.stderr
    apps = len(app_traces(ROOT / "data" / "traces"))
    assert out.stdout.split() == [str(data / "traces" / "redis_bgsave.npz"),
                                  str(make_workload("redis_bgsave").writes),
                                  str(data / "traces"), str(apps)]
    shutil.rmtree(km)
    shutil.rmtree(data)
    out = _run(site, KERNEL_PROBE)
    assert out.returncode != 0
    assert ("TargetUnavailable: kernel_module: the kernel module's source directory is missing "
            f"(no cowrl_uapi.h in {site / 'kernel_module'} or {km})") in out.stderr
    out = _run(site, CORPUS_PROBE)
    assert out.returncode != 0
    assert (f"ConfigError: workload redis_bgsave: data: the recorded corpus's directory is "
            f"missing (no traces in {site / 'data'} or {data})") in out.stderr
