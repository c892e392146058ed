"""The lab's Debian base (image.py) as a container image for Docker or Podman.

CI runners have a container engine, not systemd-nspawn, so the same debootstrap tree the
nspawn lab boots is imported as an image whose init is systemd. Nothing is baked per
node: sshd makes its host keys at each container's first boot. The tag carries a hash of
the recipe (the base's key, the extra files, the image settings), so an unchanged recipe
reuses the imported image and a changed one makes a new tag.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from halab.errors import InputError, OperationFailed
from halab.lab.image import READY, ensure_image, image_key
from halab.lab.proc import run

ENGINES = ("podman", "docker")
REPOSITORY = "localhost/halab-node"
# Files added to the base. Debian's ssh.service checks its config (`sshd -t`) before
# starting, which fails without host keys: make the missing keys first (bookworm has no
# sshd-keygen unit; trixie's is harmless beside this).
LAYER = {
    "etc/systemd/system/ssh.service.d/halab-host-keys.conf": (
        "# halab node image: host keys are made in each container at first boot, never baked\n"
        "[Service]\nExecStartPre=\nExecStartPre=/usr/bin/ssh-keygen -A\nExecStartPre=/usr/sbin/sshd -t\n"
    ),
}
# Image settings: systemd as PID 1, stopped the way systemd wants (SIGRTMIN+3), and told
# that it runs in a container (Docker does not say so itself).
CHANGES = ('CMD ["/lib/systemd/systemd"]', "STOPSIGNAL SIGRTMIN+3", "ENV container=docker")


def image_tag(release: str) -> str:
    """`REPOSITORY:<release>-<recipe hash>`: the cache key of the image."""
    recipe = "|".join((image_key(release), *sorted(f"{k}={v}" for k, v in LAYER.items()), *CHANGES))
    return f"{REPOSITORY}:{release}-{hashlib.sha256(recipe.encode()).hexdigest()[:10]}"


def release_tag(release: str) -> str:
    """`REPOSITORY:<release>`, moved to the newest build: the name scenarios refer to."""
    return f"{REPOSITORY}:{release}"


def engine_binary(engine: str) -> str:
    """The engine's command line, or InputError naming how to get it."""
    found = shutil.which(engine)
    if found is None:
        fix = ("apt-get install --no-install-recommends podman runc uidmap" if engine == "podman"
               else "install Docker's engine or CLI, or use --engine podman")  # fmt: skip
        raise InputError(f"{engine}: command not found; {fix}")
    return found


def has_image(binary: str, ref: str) -> bool:
    return run([binary, "image", "inspect", ref], check=False).returncode == 0


def export_image(release: str, engine: str, say: Callable[[str], None]) -> str:
    """Import the base of `release` into `engine` unless its recipe's tag is already there;
    point the release tag at it. Returns the recipe tag."""
    binary = engine_binary(engine)
    tag = image_tag(release)
    if has_image(binary, tag):
        say(f"{tag} is up to date")
    else:
        say(f"importing the {release} base into {engine} as {tag}")
        base = ensure_image(release)
        with tempfile.TemporaryDirectory(prefix="halab-image-") as tmp:
            layer = Path(tmp)
            _import(binary, base, layer, _write_layer(base, layer), tag)
    run([binary, "tag", tag, release_tag(release)])
    return tag


def _write_layer(base: Path, layer: Path) -> list[str]:
    """Write LAYER under `layer`; return the new paths (parents first) for tar. An image
    layer may not name a path twice, so the base must not have any of them."""
    paths: list[str] = []
    for rel, text in LAYER.items():
        parts = Path(rel).parts
        for depth in range(1, len(parts) + 1):
            sub = "/".join(parts[:depth])
            if not (base / sub).exists() and f"./{sub}" not in paths:
                paths.append(f"./{sub}")
        if (base / rel).exists():
            raise OperationFailed(f"the base image already has /{rel}; change halab's container layer")
        (layer / rel).parent.mkdir(parents=True, exist_ok=True)
        (layer / rel).write_text(text)
    for path in layer.rglob("*"):  # the image's modes, whatever our umask
        path.chmod(0o755 if path.is_dir() else 0o644)
    return paths


def _import(binary: str, base: Path, layer: Path, paths: list[str], tag: str) -> None:
    """`tar` of the base, then of the layer's new paths, piped into `ENGINE import`."""
    tar_argv = ["tar", "--numeric-owner", "-c", "-C", str(base), f"--exclude=./{READY}", ".",
                "-C", str(layer), "--no-recursion", *paths]  # fmt: skip
    import_argv = [binary, "import", *(arg for change in CHANGES for arg in ("--change", change)), "-", tag]
    with subprocess.Popen(tar_argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as tar:
        imported = subprocess.run(import_argv, stdin=tar.stdout, capture_output=True, text=True, check=False)
        assert tar.stdout is not None and tar.stderr is not None
        tar.stdout.close()
        tar_error = tar.stderr.read().decode(errors="replace")
    if imported.returncode != 0:  # first: a failed import makes tar fail too (broken pipe)
        raise OperationFailed(f"{binary} import failed ({imported.returncode}): {imported.stderr.strip()}")
    if tar.returncode != 0:
        raise OperationFailed(f"tar of {base} failed ({tar.returncode}): {tar_error.strip()}")
