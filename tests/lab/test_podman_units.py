"""Fast tests of the Podman backend (no root, no engine): specs, host checks, state."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from halab.errors import InputError
from halab.lab import deps, lab_spec_from_cluster
from halab.lab.state import LabState, NodeState, load
from halab.validation import load_cluster

from ..conftest import ROOT


@pytest.fixture(autouse=True)
def _isolated_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HALAB_STATE_DIR", str(tmp_path / "state"))


def test_backend_podman_makes_the_containers_podman_ones_and_keeps_the_files_vms() -> None:
    cluster = load_cluster(ROOT / "examples" / "lvs-dr-ci.yml")
    spec = lab_spec_from_cluster(cluster, backend="podman")
    assert {n.name: n.backend for n in spec.nodes} == {"lb1": "vm", "lb2": "vm", "rs1": "podman", "rs2": "podman"}
    assert spec.backends == {"vm", "podman"}
    assert type(spec).from_json(spec.to_json()) == spec


def test_the_container_id_halab_made_is_kept_in_the_state() -> None:
    spec = lab_spec_from_cluster(load_cluster(ROOT / "examples" / "web-ap-nodrbd.yml"), backend="podman")
    st = LabState(spec)
    st.nodes["web1"] = NodeState("web1", 0, "ns", "m", ["v0"], backend="podman", container="c0ffee")
    st.save()
    again = load(spec.name)
    assert again is not None and again.nodes["web1"].container == "c0ffee"


def test_a_host_without_podman_gets_the_install_command_and_exit_2(monkeypatch: pytest.MonkeyPatch) -> None:
    real_which = shutil.which
    hidden = lambda tool, path=None: None if tool == "podman" else real_which(tool, path=path)  # noqa: E731
    monkeypatch.setattr(shutil, "which", hidden)
    monkeypatch.setattr(deps.os, "geteuid", lambda: 0)
    monkeypatch.setattr(deps, "TOOLS", {})  # the nspawn tools: present or not, not the point here
    deps.check_host(["container"])  # nspawn nodes do not need it
    with pytest.raises(InputError, match=r"(?s)podman nodes need podman .*apt-get install -y --no-install-recommends "
                                         r"podman runc uidmap") as raised:  # fmt: skip
        deps.check_host(["podman"])
    assert raised.value.exit_code == 2
