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

import gzip
import hashlib
import lzma
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from cowrl import paths
from cowrl.errors import TargetUnavailable

SOURCE_DIR = paths.place("kernel_module")
"""The module, harness and guest-init sources: the checkout's ``kernel_module/``, else the copy a
wheel ships as ``cowrl/kernel_module`` (:mod:`cowrl.paths`)."""
GUEST_MODULES = ("virtio_ring", "virtio", "virtio_pci_modern_dev", "virtio_pci_legacy_dev",
                 "virtio_pci", "netfs", "fscache", "9pnet", "9pnet_virtio", "9p")
"""9p-over-virtio modules, in insmod order (virtio before virtio_ring fails); those a kernel
has built in (6.12: virtio, fscache) are absent from its tree and skipped."""
SWAP_MODULES = ("zram",)
"""Modules the ``cleanswap`` stress test loads for a swap device, with their dependencies
(``depends=`` of each module's .modinfo) and the zram compressors' modules; kept under
``kernel/<release>/modules/swap/`` with an ``order`` file. A kernel without them (zram
built in or absent) has an empty order: the test then swaps only if /sys/block/zram0 exists."""
SWAP_EXTRA = ("lzo_compress", "lzo_decompress", "lzo", "lzo-rle", "lz4_compress",
              "lz4_decompress", "lz4")
HARNESS_PROGRAMS = ("cowrl_harness", "cowrl_stress")
MODULE_SOURCES = ("cowrl.c", "cowrl_uapi.h", "cowrl_policy.h", "cowrl_guarded.h",
                  "Makefile")


def _sources() -> list[Path]:
    files = [SOURCE_DIR / n for n in MODULE_SOURCES]
    files += [SOURCE_DIR / "harness" / f"{n}.c" for n in HARNESS_PROGRAMS]
    files += [SOURCE_DIR / "harness" / "cowrl_region.h", SOURCE_DIR / "initramfs" / "init"]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        if not (SOURCE_DIR / paths.DIRS["kernel_module"][0]).is_file():
            paths.require("kernel_module")  # the directory is nowhere: one line naming both
        raise TargetUnavailable(f"the module sources are missing ({', '.join(missing)}); "
                                "run from a full checkout of the project or reinstall it")
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


FETCH_SUITES = {"6.12": "trixie"}
"""Kernel series the runner fetches (image *and* headers) from another Debian suite, through
an apt configuration of its own built from this machine's Debian sources."""
APT_LISTS_MAX_AGE_S = 24 * 3600


def _series(release: str) -> str:
    m = re.match(r"(\d+\.\d+)", release)
    return m.group(1) if m else ""


def resolve_release(release: str, cache: Path | None = None) -> str:
    """The kernel flavour to boot: ``auto`` = newest installed ``linux-headers-*``; a series
    (``6.1``) with installed headers = the newest installed flavour of it; a series of
    :data:`FETCH_SUITES` (``6.12``) = the newest amd64 flavour of that suite; else as is."""
    installed = [r for r in installed_header_releases() if r.endswith("-amd64")]
    if release == "auto":
        if not installed:
            raise TargetUnavailable("no Debian kernel headers are installed; run "
                                    "'apt-get install linux-headers-amd64'")
        return installed[0]
    if re.fullmatch(r"\d+\.\d+", release) and release not in FETCH_SUITES:
        same = [r for r in installed if _series(r) == release]
        if not same:
            raise TargetUnavailable(f"kernel.release={release}: no Linux {release} headers "
                                    f"are installed (installed: "
                                    f"{', '.join(installed) or 'none'}); fetched series: "
                                    f"{', '.join(FETCH_SUITES)}")
        return same[0]
    if release in FETCH_SUITES:
        apt = SuiteApt(cache or Path("~/.cache/cowrl").expanduser(), FETCH_SUITES[release])
        dep = apt.field("linux-headers-amd64", "Depends")
        m = re.search(r"linux-headers-(\S+-amd64)\b", dep)
        if not m or _series(m.group(1)) != release:
            raise TargetUnavailable(f"the {FETCH_SUITES[release]} suite has no Linux {release} "
                                    f"amd64 headers (linux-headers-amd64 depends on {dep!r})")
        return m.group(1)
    return release


def _system_debian_sources() -> list[tuple[str, str, str]]:
    """(uri, suite, signed_by) of this machine's Debian apt sources (deb822 and one-line)."""
    out: list[tuple[str, str, str]] = []
    for f in sorted(Path("/etc/apt/sources.list.d").glob("*.sources")):
        for stanza in re.split(r"\n\s*\n", f.read_text()):
            fields: dict[str, str] = {}
            for line in stanza.splitlines():
                if line.startswith("#") or ":" not in line:
                    continue
                k, v = line.split(":", 1)
                fields[k.strip().lower()] = v.strip()
            if "deb" not in fields.get("types", "").split() or fields.get("enabled") == "no":
                continue
            for uri in fields.get("uris", "").split():
                for suite in fields.get("suites", "").split():
                    out.append((uri, suite, fields.get("signed-by", "")))
    lists = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*.list"))]
    for f in lists:
        if not f.is_file():
            continue
        for line in f.read_text().splitlines():
            m = re.match(r"\s*deb\s+(?:\[([^]]*)\]\s+)?(\S+)\s+(\S+)", line)
            if m:
                signed = re.search(r"signed-by=(\S+)", m.group(1) or "")
                out.append((m.group(2), m.group(3), signed.group(1) if signed else ""))
    return out


class SuiteApt:
    """apt-get/apt-cache over one other Debian suite, with lists and sources kept in the cache
    (never touching the system's apt state). Its sources are this machine's Debian sources with
    the suite renamed (``bookworm`` -> ``trixie``, ``bookworm-security`` -> ``trixie-security``)."""

    def __init__(self, cache: Path, suite: str) -> None:
        self.suite = suite
        self.dir = _mkdir(cache / "apt" / suite)
        self.opts = [f"-o=Dir::Etc::SourceList={self.dir / 'sources.list'}",
                     "-o=Dir::Etc::SourceParts=/dev/null",
                     f"-o=Dir::State::Lists={self.dir / 'lists'}",
                     f"-o=Dir::Cache={self.dir / 'cache'}", "-o=Debug::NoLocking=1",
                     "-o=APT::Sandbox::User=root"]
        self._update()

    def _sources(self) -> str:
        lines = []
        for uri, suite, signed in _system_debian_sources():
            base, _, pocket = suite.partition("-")
            if pocket not in ("", "security", "updates"):
                continue
            if base == self.suite or not re.fullmatch(r"[a-z]+", base):
                continue
            opt = f"[signed-by={signed}] " if signed else ""
            lines.append(f"deb {opt}{uri} {self.suite}{'-' + pocket if pocket else ''} main")
        if not lines:
            raise TargetUnavailable("this machine has no Debian apt sources to derive the "
                                    f"{self.suite} suite from (/etc/apt/sources.list*)")
        return "\n".join(dict.fromkeys(lines)) + "\n"

    def _update(self) -> None:
        src = self.dir / "sources.list"
        text = self._sources()
        stamp = self.dir / "updated"
        fresh = (stamp.is_file() and src.is_file() and src.read_text() == text
                 and time.time() - stamp.stat().st_mtime < APT_LISTS_MAX_AGE_S)
        if fresh:
            return
        src.write_text(text)
        for d in ("lists/partial", "cache/archives/partial"):
            _mkdir(self.dir / d)
        try:
            _run(["apt-get", *self.opts, "-qq", "update"], f"update the {self.suite} package lists")
        except TargetUnavailable:
            if not any((self.dir / "lists").glob("*Packages*")):
                raise
            return  # offline: keep using the lists we have
        stamp.write_text(time.ctime() + "\n")

    def field(self, package: str, name: str) -> str:
        out = _run(["apt-cache", *self.opts, "show", package],
                   f"look up {package} in {self.suite}")
        m = re.search(rf"^{name}: (.*)$", out, re.M)
        return m.group(1) if m else ""

    def download(self, packages: list[str], where: Path) -> list[Path]:
        _run(["apt-get", *self.opts, "download", *packages],
             f"download {' '.join(packages)} from {self.suite}", cwd=where)
        return sorted(where.glob("*.deb"))


def headers_dir(release: str, cache: Path | None = None) -> Path:
    d = Path(f"/usr/src/linux-headers-{release}")
    if not (d / "Makefile").is_file():
        d = Path(f"/lib/modules/{release}/build")
    if not (d / "Makefile").is_file() and cache is not None:
        d = cache / "kernel" / release / "root" / "usr" / "src" / f"linux-headers-{release}"
    if not (d / "Makefile").is_file():
        hint = (f"kernel.release={_series(release)} fetches them" if _series(release)
                in FETCH_SUITES else f"run 'apt-get install linux-headers-{release}'")
        raise TargetUnavailable(f"kernel headers for {release} are not installed; {hint}")
    return d


def package_version(package: str) -> str:
    out = _run(["dpkg-query", "-W", "-f", "${Version}", package],
               f"find the installed version of {package}")
    return out.strip()


def _gcc_major(cc: str) -> int:
    try:
        out = subprocess.run([cc, "-dumpversion"], capture_output=True, text=True).stdout
    except FileNotFoundError:
        return 0
    m = re.match(r"(\d+)", out.strip())
    return int(m.group(1)) if m else 0


def module_make_args(kdir: Path) -> list[str]:
    """Extra make variables to build a module against ``kdir`` with this machine's tools.

    A kernel built by a newer gcc than ours (Debian 13's 6.12 is built by gcc-14) gets our
    gcc and loses the one flag gcc-12 lacks (``-fmin-function-alignment``: the kernel then
    passes ``-falign-functions``, the same 16-byte alignment); no ``pahole`` = no module BTF.
    """
    args: list[str] = []
    cfg = (kdir / ".config").read_text() if (kdir / ".config").is_file() else ""
    m = re.search(r'CONFIG_CC_VERSION_TEXT="?x86_64-linux-gnu-gcc-(\d+)', cfg)
    if m and not shutil.which(f"x86_64-linux-gnu-gcc-{m.group(1)}"):
        if _gcc_major("gcc") < int(m.group(1)):
            args += ["CC=gcc", "CONFIG_CC_HAS_MIN_FUNCTION_ALIGNMENT="]
        else:
            args.append("CC=gcc")
    if "CONFIG_DEBUG_INFO_BTF_MODULES=y" in cfg and not shutil.which("pahole"):
        args.append("CONFIG_DEBUG_INFO_BTF_MODULES=")
    return args


def ensure_module(cache: Path, release: str) -> Path:
    """Build ``cowrl.ko`` against the headers of ``release`` (cached)."""
    dest = cache / "build" / f"{release}-{source_hash()}"
    if (dest / "cowrl.ko").is_file():
        return dest / "cowrl.ko"
    kdir = headers_dir(release, cache)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=_mkdir(cache / "build")))
    for f in MODULE_SOURCES:
        shutil.copy2(SOURCE_DIR / f, tmp / f)
    # Command-line variables reach the kernel's own make (recursive makes inherit them).
    _run(["make", "-C", str(tmp), f"KDIR={kdir}", "modules", *module_make_args(kdir)],
         f"build the module against {kdir} (install gcc, make and the headers)")
    for f in tmp.iterdir():
        if f.name != "cowrl.ko" and f.is_file():
            f.unlink()
    return _publish(tmp, dest) / "cowrl.ko"


def ensure_harness(cache: Path) -> Path:
    """Build the static replay harness and stress program (cached by source hash)."""
    dest = cache / "build" / f"harness-{source_hash()}"
    if all((dest / n).is_file() for n in HARNESS_PROGRAMS):
        return dest / "cowrl_harness"
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=_mkdir(cache / "build")))
    for name in HARNESS_PROGRAMS:
        src = SOURCE_DIR / "harness" / f"{name}.c"
        cmd = ["gcc", "-O2", "-Wall", "-static", "-pthread", f"-I{SOURCE_DIR}", "-o",
               str(tmp / name), str(src)]
        _run(cmd, f"build {name} (install gcc and libc6-dev)")
    return _publish(tmp, dest) / "cowrl_harness"


def _mkdir(p: Path) -> Path:
    p.mkdir(parents=True, exist_ok=True)
    return p


def _copy_module(tree: Path, name: str, dest: Path) -> bool:
    """Copy ``name.ko`` (decompressing .xz/.zst/.gz) from a modules tree; False if absent."""
    for f in tree.rglob(f"{name}.ko*"):
        data = f.read_bytes()
        if f.suffix == ".xz":
            data = lzma.decompress(data)
        elif f.suffix == ".gz":
            data = gzip.decompress(data)
        elif f.suffix == ".zst":
            data = subprocess.run(["zstd", "-dc", str(f)], capture_output=True, check=True).stdout
        elif f.suffix != ".ko":
            continue
        (dest / f"{name}.ko").write_bytes(data)
        return True
    return False


def _module_depends(path: Path) -> list[str]:
    """The ``depends=`` names in a module's .modinfo (``-`` and ``_`` as the file names it)."""
    m = re.search(rb"(?:^|\0)depends=([^\0]*)\0", path.read_bytes())
    return [d for d in m.group(1).decode().split(",") if d] if m else []


def copy_swap_modules(tree: Path, dest: Path) -> list[str]:
    """Copy :data:`SWAP_MODULES` and their dependencies (insmod order) into ``dest``."""
    order: list[str] = []

    def add(name: str) -> None:
        for cand in (name, name.replace("_", "-"), name.replace("-", "_")):
            if cand in order:
                return
            if (dest / f"{cand}.ko").is_file() or _copy_module(tree, cand, dest):
                for dep in _module_depends(dest / f"{cand}.ko"):
                    add(dep)
                order.append(cand)
                return

    for name in SWAP_EXTRA + SWAP_MODULES:
        add(name)
    (dest / "order").write_text("".join(n + "\n" for n in order))
    return order


def _extract_image(deb: Path, x: Path, out: Path, release: str, pkg: str) -> None:
    _run(["dpkg-deb", "-x", str(deb), str(x)], f"extract {deb.name}")
    shutil.copy2(x / "boot" / f"vmlinuz-{release}", out / "vmlinuz")
    mods = _mkdir(out / "modules")
    tree = next((t for t in (x / "lib" / "modules" / release, x / "usr/lib/modules" / release)
                 if t.is_dir()), None)
    if tree is None:
        raise TargetUnavailable(f"{pkg} has no modules tree for {release}")
    order = [name for name in GUEST_MODULES if _copy_module(tree, name, mods)]
    if "9p" not in order:
        raise TargetUnavailable(f"{pkg} has no 9p module: the guest cannot mount the host")
    (mods / "order").write_text("\n".join(order) + "\n")
    copy_swap_modules(tree, _mkdir(mods / "swap"))


def _glibc_needed(path: Path) -> tuple[int, ...]:
    data = path.read_bytes()
    vers = [tuple(int(x) for x in v.split(b".")) for v in re.findall(rb"GLIBC_(2\.\d+)", data)]
    return max(vers, default=(0,))


def _wrap_new_glibc_tools(root: Path, libc: Path) -> None:
    """Run the suite's build tools that need a newer glibc than ours through its own loader."""
    host = tuple(int(x) for x in os.confstr("CS_GNU_LIBC_VERSION").split()[1].split("."))
    loader = libc / "ld-linux-x86-64.so.2"
    for f in (root / "usr" / "lib").rglob("*"):
        if not f.is_file() or f.is_symlink() or not os.access(f, os.X_OK):
            continue
        with f.open("rb") as fh:
            if fh.read(4) != b"\x7fELF":
                continue
        if _glibc_needed(f) <= host:
            continue
        f.rename(f.with_name(f.name + ".bin"))
        rel_loader = os.path.relpath(loader, f.parent)
        rel_lib = os.path.relpath(libc, f.parent)
        f.write_text('#!/bin/sh\n# runs the suite\'s binary with the suite\'s glibc (cowrl)\n'
                     'd=$(dirname "$0")\n'
                     f'exec "$d/{rel_loader}" --library-path "$d/{rel_lib}" "$0.bin" "$@"\n')
        f.chmod(0o755)


def ensure_kernel(cache: Path, release: str) -> Path:
    """Download (apt-get download) and extract the kernel image matching the headers.

    Keeps ``vmlinuz`` and the 9p/virtio modules. For a release with installed headers the
    image must be the same Debian version. A release of a :data:`FETCH_SUITES` series is
    fetched whole from its suite: image, headers, kbuild tools (and that suite's glibc for
    tools built against it), extracted under ``root/``.
    """
    dest = cache / "kernel" / release
    local = any((d / "Makefile").is_file() for d in (Path(f"/usr/src/linux-headers-{release}"),
                                                    Path(f"/lib/modules/{release}/build")))
    if local:
        want = package_version(f"linux-headers-{release}")
        apt = None
    elif _series(release) in FETCH_SUITES:
        apt = SuiteApt(cache, FETCH_SUITES[_series(release)])
        want = apt.field(f"linux-image-{release}", "Version")
        if not want:
            raise TargetUnavailable(f"linux-image-{release} is not in the {apt.suite} suite "
                                    f"(try kernel.release={_series(release)})")
    else:
        raise TargetUnavailable(f"kernel.release={release}: its headers are not installed and "
                                f"{_series(release) or release} is not a fetched series "
                                f"({', '.join(FETCH_SUITES)}); run 'apt-get install "
                                f"linux-headers-{release}'")
    if (dest / "vmlinuz").is_file() and (dest / "version").is_file():
        have = (dest / "version").read_text().strip()
        # a cache from before the swap modules were kept is fetched again, once
        if have == want and (dest / "modules" / "swap" / "order").is_file():
            return dest
        shutil.rmtree(dest)
    pkg = f"linux-image-{release}"
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=_mkdir(cache / "kernel")))
    try:
        dl = _mkdir(tmp / "dl")
        if apt is None:
            _run(["apt-get", "download", f"{pkg}={want}"], f"download {pkg}={want} "
                 "(run 'apt-get update' first, and check the headers and image versions exist)",
                 cwd=dl)
        else:
            kbuild = apt.field(f"linux-headers-{release}", "Depends")
            m = re.search(r"(linux-kbuild-\S+?)[\s,]", kbuild + " ")
            common = re.search(r"(linux-headers-\S+-common)\b", kbuild)
            if not m or not common:
                raise TargetUnavailable(f"cannot read the dependencies of linux-headers-{release}")
            apt.download([f"{pkg}={want}", f"linux-headers-{release}={want}",
                          f"{common.group(1)}={want}", f"{m.group(1)}={want}", "libc6"], dl)
        deb = next(dl.glob(f"{pkg}_*.deb"))
        got = _run(["dpkg-deb", "-f", str(deb), "Version"], "read the image version").strip()
        if got != want:
            raise TargetUnavailable(f"{pkg} is version {got} but the headers are {want}; "
                                    "install a matching pair")
        out = _mkdir(tmp / "out")
        _extract_image(deb, tmp / "x", out, release, pkg)
        if apt is not None:
            root = _mkdir(out / "root")
            for d in dl.glob("*.deb"):
                if d != deb and not d.name.startswith("libc6_"):
                    _run(["dpkg-deb", "-x", str(d), str(root)], f"extract {d.name}")
            libc_x = tmp / "libc"
            _run(["dpkg-deb", "-x", str(next(dl.glob("libc6_*.deb"))), str(libc_x)],
                 "extract libc6")
            libc = _mkdir(root / "libc")
            for f in (libc_x / "usr/lib/x86_64-linux-gnu").glob("*.so*"):
                shutil.copy2(f, libc / f.name, follow_symlinks=True)
            # The headers' Makefile includes the common tree by absolute path: make it relative.
            mk = root / "usr/src" / f"linux-headers-{release}" / "Makefile"
            mk.write_text(re.sub(r"include\s+/usr/src/", "include ../", mk.read_text()))
            _wrap_new_glibc_tools(root, libc)
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
        order = (kernel_dir / "modules" / "order")
        names = order.read_text().split() if order.is_file() else list(GUEST_MODULES)
        for name in names:
            shutil.copy2(kernel_dir / "modules" / f"{name}.ko", root / "lib/modules" / f"{name}.ko")
        (root / "lib/modules/order").write_text("\n".join(names) + "\n")
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
