"""The container image recipe and the engine check, offline (no engine needed)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from halab.errors import OperationFailed
from halab.lab import containerimage
from halab.lab.containerimage import LAYER, image_tag, release_tag


def test_the_tag_is_a_recipe_hash_that_changes_with_the_layer(monkeypatch: pytest.MonkeyPatch) -> None:
    tag = image_tag("bookworm")
    assert tag.startswith("localhost/halab-node:bookworm-") and tag == image_tag("bookworm")
    assert tag != image_tag("trixie") and release_tag("bookworm") == "localhost/halab-node:bookworm"
    monkeypatch.setattr(containerimage, "LAYER", {**LAYER, "etc/motd": "changed\n"})
    assert image_tag("bookworm") != tag


def test_the_layer_names_only_new_paths_parents_first(tmp_path: Path) -> None:
    base, layer = tmp_path / "base", tmp_path / "layer"
    (base / "etc/systemd/system").mkdir(parents=True)
    layer.mkdir()
    paths = containerimage._write_layer(base, layer)
    assert paths == ["./etc/systemd/system/ssh.service.d", "./etc/systemd/system/ssh.service.d/halab-host-keys.conf"]
    assert "ssh-keygen -A" in (layer / paths[-1][2:]).read_text()
    assert (layer / paths[-1][2:]).stat().st_mode & 0o777 == 0o644


def test_a_layer_file_the_base_has_already_is_refused(tmp_path: Path) -> None:
    base = tmp_path / "base"
    (base / next(iter(LAYER))).parent.mkdir(parents=True)
    (base / next(iter(LAYER))).write_text("")
    with pytest.raises(OperationFailed, match="already has"):
        containerimage._write_layer(base, tmp_path)


def _check(docker_host: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "halab.lab.cli", "image", "--check"], capture_output=True, text=True,
                          env=os.environ | {"DOCKER_HOST": docker_host}, check=False)  # fmt: skip


def test_check_without_an_engine_exits_2_naming_the_fix(tmp_path: Path) -> None:
    done = _check(f"unix://{tmp_path}/none.sock")
    assert done.returncode == 2 and "no socket at" in done.stderr and "podman system service" in done.stderr


def test_check_with_a_socket_that_does_not_answer_exits_2(tmp_path: Path) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as dead:
        dead.bind(str(tmp_path / "dead.sock"))  # bound, never listening: connections are refused
        done = _check(f"unix://{tmp_path}/dead.sock")
    assert done.returncode == 2 and "does not answer" in done.stderr


def test_check_refuses_a_docker_host_that_is_not_a_unix_socket() -> None:
    done = _check("tcp://127.0.0.1:2375")
    assert done.returncode == 2 and "only unix://" in done.stderr
