"""Build and cache what the kernel target needs: module, harness, kernel image, initramfs.

Everything lands under the cache directory (``kernel.cache_dir``, default
``~/.cache/cowrl``), keyed by kernel release and by a hash of the sources in
``kernel_module/``, and is built in a temporary directory then renamed into
place, so concurrent or interrupted builds never leave half a file behind.

Layout::

    kernel/<release>/{vmlinuz, modules/*.ko, version}
    build/<release>-<hash>/cowrl.ko
    build/harness-<hash>/cowrl_harness
    initramfs/<release>-<hash>.cpio.gz
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from cowrl.errors import TargetUnavailable

SOURCE_DIR = Path(__file__).resolve().parents[2] / "kernel_module"
GUEST_MODULES = ("virtio_ring", "virtio", "virtio_pci_modern_dev", "virtio_pci_legacy_dev",
                 "virtio_pci", "netfs", "fscache", "9pnet", "9pnet_virtio", "9p")
"""9p-over-virtio modules, in insmod order (virtio before virtio_ring fails)."""
MODULE_SOURCES = ("cowrl.c", "cowrl_uapi.h", "cowrl_policy.h", "Makefile")


def _sources() -> list[Path]:
    files = [SOURCE_DIR / n for n in MODULE_SOURCES]
    files += [SOURCE_DIR / "harness" / "cowrl_harness.c", SOURCE_DIR / "harness" / "cowrl_region.h",
              SOURCE_DIR / "initramfs" / "init"]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise TargetUnavailable(f"the module sources are missing ({', '.join(missing)}); "
                                "run from a full checkout of the project")
    return files


def source_hash() -> str:
    """Hash of the module, harness and guest-init sources (the cache key)."""
    h = hashlib.sha256()
    for f in _sources():
        h.update(f.name.encode() + b"\0" + f.read_bytes())
    return h.hexdigest()[:16]


def _run(cmd: list[str], what: str, cwd: Path | None = None) -> str:
    try:
        p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    except FileNotFoundError:
        raise TargetUnavailable(f"{cmd[0]} is not installed; it is needed to {what} "
                                "(apt-get install it)") from None
    if p.returncode != 0:
        tail = (p.stdout + p.stderr).strip().splitlines()[-8:]
        raise TargetUnavailable(f"failed to {what}: {' | '.join(tail)}")
    return p.stdout


def _publish(tmp: Path, dest: Path) -> Path:
    """Atomically move a finished build into the cache (another process may have won)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(tmp, dest)
    except OSError:
        if not dest.exists():
            raise
        shutil.rmtree(tmp, ignore_errors=True) if tmp.is_dir() else tmp.unlink(missing_ok=True)
    return dest


def host_kernel_release() -> str:
    return os.uname().release


def installed_header_releases() -> list[str]:
    """Debian amd64 header trees under /usr/src, newest first."""
    rels = [p.name[len("linux-headers-"):] for p in Path("/usr/src").glob("linux-headers-*")
            if (p / "Makefile").is_file() and not p.name.endswith("-common")]

    def key(r: str) -> list[int]:
        return [int(x) for x in re.findall(r"\d+", r)]

    return sorted(rels, key=key, reverse=True)


def resolve_release(release: str) -> str:
    """The kernel flavour to boot (``auto``: newest installed ``linux-headers-*``)."""
    if release != "auto":
        return release
    rels = [r for r in installed_header_releases() if r.endswith("-amd64")]
    if not rels:
        raise TargetUnavailable("no Debian kernel headers are installed; run "
                                "'apt-get install linux-headers-amd64'")
    return rels[0]


def headers_dir(release: str) -> Path:
    d = Path(f"/usr/src/linux-headers-{release}")
    if not (d / "Makefile").is_file():
        d = Path(f"/lib/modules/{release}/build")
    if not (d / "Makefile").is_file():
        raise TargetUnavailable(f"kernel headers for {release} are not installed; run "
                                f"'apt-get install linux-headers-{release}'")
    return d


def package_version(package: str) -> str:
    out = _run(["dpkg-query", "-W", "-f", "${Version}", package],
               f"find the installed version of {package}")
    return out.strip()


def ensure_module(cache: Path, release: str) -> Path:
    """Build ``cowrl.ko`` against the headers of ``release`` (cached)."""
    dest = cache / "build" / f"{release}-{source_hash()}"
    if (dest / "cowrl.ko").is_file():
        return dest / "cowrl.ko"
    kdir = headers_dir(release)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=_mkdir(cache / "build")))
    for f in MODULE_SOURCES:
        shutil.copy2(SOURCE_DIR / f, tmp / f)
    _run(["make", "-C", str(tmp), f"KDIR={kdir}", "modules"],
         f"build the module against {kdir} (install gcc, make and the headers)")
    for f in tmp.iterdir():
        if f.name != "cowrl.ko" and f.is_file():
            f.unlink()
    return _publish(tmp, dest) / "cowrl.ko"


def ensure_harness(cache: Path) -> Path:
    """Build the static replay harness (cached by source hash)."""
    dest = cache / "build" / f"harness-{source_hash()}"
    if (dest / "cowrl_harness").is_file():
        return dest / "cowrl_harness"
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=_mkdir(cache / "build")))
    src = SOURCE_DIR / "harness" / "cowrl_harness.c"
    cmd = ["gcc", "-O2", "-Wall", "-static", f"-I{SOURCE_DIR}", "-o", str(tmp / "cowrl_harness"),
           str(src)]
    _run(cmd, "build the replay harness (install gcc and libc6-dev)")
    return _publish(tmp, dest) / "cowrl_harness"


def _mkdir(p: Path) -> Path:
    p.mkdir(parents=True, exist_ok=True)
    return p


def ensure_kernel(cache: Path, release: str) -> Path:
    """Download (apt-get download) and extract the kernel image matching the headers.

    Keeps only ``vmlinuz`` and the 9p/virtio modules. The image and the headers
    must be the same Debian version; a mismatch is an error.
    """
    dest = cache / "kernel" / release
    want = package_version(f"linux-headers-{release}")
    if (dest / "vmlinuz").is_file() and (dest / "version").is_file():
        have = (dest / "version").read_text().strip()
        if have == want:
            return dest
        shutil.rmtree(dest)
    pkg = f"linux-image-{release}"
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=_mkdir(cache / "kernel")))
    try:
        _run(["apt-get", "download", f"{pkg}={want}"], f"download {pkg}={want} "
             "(run 'apt-get update' first, and check the headers and image versions exist)",
             cwd=tmp)
        deb = next(tmp.glob(f"{pkg}_*.deb"))
        got = _run(["dpkg-deb", "-f", str(deb), "Version"], "read the image version").strip()
        if got != want:
            raise TargetUnavailable(f"{pkg} is version {got} but the headers are {want}; "
                                    "install a matching pair")
        x = tmp / "x"
        _run(["dpkg-deb", "-x", str(deb), str(x)], f"extract {deb.name}")
        out = _mkdir(tmp / "out")
        shutil.copy2(x / "boot" / f"vmlinuz-{release}", out / "vmlinuz")
        mods = _mkdir(out / "modules")
        tree = x / "lib" / "modules" / release
        for name in GUEST_MODULES:
            found = list(tree.rglob(f"{name}.ko"))
            if not found:
                raise TargetUnavailable(f"{pkg} has no {name}.ko (compressed modules are "
                                        "not supported)")
            shutil.copy2(found[0], mods / f"{name}.ko")
        (out / "version").write_text(want + "\n")
        return _publish(out, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def ensure_initramfs(cache: Path, release: str, kernel_dir: Path, module: Path) -> Path:
    """busybox-static + the 9p modules + cowrl.ko + /init, as a gzipped newc cpio (cached)."""
    dest = cache / "initramfs" / f"{release}-{source_hash()}.cpio.gz"
    if dest.is_file():
        return dest
    busybox = shutil.which("busybox") or "/bin/busybox"
    if not Path(busybox).is_file():
        raise TargetUnavailable("busybox is not installed; run 'apt-get install busybox-static'")
    if b"ld-linux" in Path(busybox).read_bytes()[:4096]:  # has an ELF interpreter
        raise TargetUnavailable(f"{busybox} is not static; run 'apt-get install busybox-static'")
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=_mkdir(cache / "initramfs")))
    try:
        root = tmp / "root"
        for d in ("bin", "sbin", "proc", "sys", "dev", "tmp", "host", "lib/modules"):
            _mkdir(root / d)
        shutil.copy2(busybox, root / "bin" / "busybox")
        os.symlink("busybox", root / "bin" / "sh")
        for name in GUEST_MODULES:
            shutil.copy2(kernel_dir / "modules" / f"{name}.ko", root / "lib/modules" / f"{name}.ko")
        shutil.copy2(module, root / "cowrl.ko")
        shutil.copy2(SOURCE_DIR / "initramfs" / "init", root / "init")
        os.chmod(root / "init", 0o755)
        files = sorted(str(p.relative_to(root)) for p in root.rglob("*"))
        cpio = tmp / "initramfs.cpio.gz"
        try:
            with cpio.open("wb") as f:
                c = subprocess.Popen(["cpio", "-o", "-H", "newc", "--quiet"], cwd=root,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)
                g = subprocess.Popen(["gzip", "-1"], stdin=c.stdout, stdout=f)
                assert c.stdin is not None and c.stdout is not None
                c.stdin.write(("\n".join(files) + "\n").encode())
                c.stdin.close()
                c.stdout.close()
                if c.wait() or g.wait():
                    raise TargetUnavailable("cpio/gzip failed to build the initramfs")
        except FileNotFoundError:
            raise TargetUnavailable("cpio is not installed; run 'apt-get install cpio'") from None
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(cpio, dest)
        return dest
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
