"""The Debian base image shared read-only (overlayfs lower dir) by every lab node."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

from halab.errors import OperationFailed
from halab.lab.proc import run
from halab.paths import cache_dir

# Debian releases the lab builds nodes of (codename -> version).
RELEASES = {"bookworm": "12", "trixie": "13"}
DEFAULT_RELEASE = "trixie"
MIRROR = "http://deb.debian.org/debian"
INCLUDE = "systemd,systemd-sysv,dbus,openssh-server,python3,iproute2,ca-certificates,iputils-ping,procps"
# Bump when the customisation below changes: a new key means a fresh image.
LAYOUT_VERSION = "2"
READY = ".halab-image-ready"

def sources(release: str) -> str:
    return (f"deb {MIRROR} {release} main\ndeb {MIRROR} {release}-updates main\n"
            f"deb http://deb.debian.org/debian-security {release}-security main\n")  # fmt: skip
APT_CONF = """\
// halab lab node: wait for the dpkg lock instead of failing (parallel Ansible tasks)
DPkg::Lock::Timeout "300";
Acquire::http::Pipeline-Depth "0";
"""
SSHD_CONF = """\
# halab lab node: one per-node host key (written at node creation), keys only
HostKey /etc/ssh/ssh_host_ed25519_key
PasswordAuthentication no
PermitRootLogin prohibit-password
UseDNS no
"""


def image_key(release: str) -> str:
    """Content key of the image recipe: a changed recipe never reuses an old image."""
    recipe = "|".join((release, MIRROR, INCLUDE, LAYOUT_VERSION))
    return f"{release}-{hashlib.sha256(recipe.encode()).hexdigest()[:10]}"


def images_dir() -> Path:
    return cache_dir() / "images"


def image_path(release: str) -> Path:
    return images_dir() / image_key(release)


def image_ready(release: str) -> bool:
    return (image_path(release) / READY).exists()


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_image(release: str, log: Path | None = None) -> Path:
    """Return the cached base image of `release`, building it first if needed (safe for
    concurrent callers)."""
    return build_cached(image_path(release), lambda root, out: _build(release, root, out), log,
                        stale_glob=f"{release}-*")  # fmt: skip


def build_cached(final: Path, build: Callable[[Path, Path], None], log: Path | None, stale_glob: str) -> Path:
    """Build `final` once per machine: under a lock, into a temporary dir renamed when ready.

    `build(tmp, logfile)` fills the directory. Older images matching `stale_glob` in the same
    folder are dropped afterwards, unless a lab is up (its overlays may sit on one).
    """
    if (final / READY).exists():
        return final
    images = final.parent
    with _locked(images / f"{final.name}.lock"):
        if (final / READY).exists():  # another builder finished while we waited
            return final
        tmp = images / f".tmp-{final.name}-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        try:
            build(tmp, log or images / f"{final.name}.log")
            (tmp / READY).write_text(final.name + "\n")
            shutil.rmtree(final, ignore_errors=True)  # a stale, unfinished one
            tmp.rename(final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        _prune_old(final, stale_glob)
    return final


def _prune_old(keep: Path, stale_glob: str) -> None:
    from halab.lab.state import lab_names

    if lab_names():
        return
    for old in keep.parent.glob(stale_glob):
        if old.is_dir() and old != keep:
            shutil.rmtree(old, ignore_errors=True)
            old.with_suffix(".log").unlink(missing_ok=True)
            old.with_suffix(".lock").unlink(missing_ok=True)


def _build(release: str, root: Path, log: Path) -> None:
    argv = ["debootstrap", "--variant=minbase", f"--include={INCLUDE}", release, str(root), MIRROR]
    result = run(argv, check=False, timeout=1800)
    log.write_text(result.stdout + result.stderr)
    if result.returncode != 0:
        raise OperationFailed(f"debootstrap failed ({result.returncode}); log: {log}")
    _customise(release, root)


def _customise(release: str, root: Path) -> None:
    """Node-neutral settings; per-node identity (hostname, keys, ids) lives in each overlay."""
    (root / "etc/apt/sources.list").write_text(sources(release))
    (root / "etc/apt/apt.conf.d/90halab-lab").write_text(APT_CONF)
    (root / "etc/ssh/sshd_config.d/halab-lab.conf").write_text(SSHD_CONF)
    for key in (root / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    for name in ("etc/hostname", "etc/machine-id", "var/lib/dbus/machine-id"):
        (root / name).unlink(missing_ok=True)
    (root / "etc/machine-id").write_text("")  # systemd wants the file present
    for stale in [
        *(root / "var/lib/apt/lists").glob("*_*"),
        *(root / "var/cache/apt/archives").glob("*.deb"),  # debootstrap leaves ~100 MB here
    ]:
        stale.unlink()
