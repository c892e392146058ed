"""Regeneration of an edited inventory: halab writes and removes only the files it owns
(listed in .halab-owned), keeps the operator's hosts and files, refuses to overwrite its
own files where they were edited; runs with `--inventory DIR` use that inventory."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import yaml

from halab.inventory import build_inventory, write_inventory
from halab.ownership import MANIFEST
from halab.remote import Hosts
from halab.render import render_all
from halab.runner import read_inventory
from halab.validation import load_cluster

from .conftest import EXAMPLES, ROOT
from .test_inventory import _ansible_inventory

MINIMAL = ROOT / "examples" / "minimal.yml"
THREE = ROOT / "examples" / "three-node-aa.yml"


@pytest.fixture(autouse=True)
def _ansible_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """ansible-inventory from halab's own environment, as a run finds it."""
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")


def _generate(directory: Path, example: Path = MINIMAL):
    return write_inventory(build_inventory(load_cluster(example)), directory, example.name)


def test_first_generation_adds_every_file_and_records_it(tmp_path: Path) -> None:
    changes = _generate(tmp_path)
    owned = sorted(line.split("  ", 1)[1] for line in (tmp_path / MANIFEST).read_text().splitlines())
    assert sorted(changes.added) == owned and "hosts.halab.yml" in owned
    assert changes.changed == changes.removed == []
    assert _generate(tmp_path).lines() == []  # nothing to do the second time


def test_operator_hosts_files_and_overrides_survive_regeneration(tmp_path: Path) -> None:
    _generate(tmp_path)
    (tmp_path / "hosts.yml").write_text("all:\n  children:\n    monitoring:\n      hosts:\n        mon1:\n"
                                        "          ansible_host: 198.18.0.9\n")
    local = tmp_path / "group_vars" / "all" / "local.yml"
    local.write_text("corosync_token: 5000\npacemaker_cluster_properties_local: {no-quorum-policy: freeze}\n")
    notes = tmp_path / "host_vars" / "mini1" / "notes.txt"
    notes.write_text("rack 4\n")
    changes = _generate(tmp_path)
    assert changes.lines() == []
    assert local.exists() and notes.read_text() == "rack 4\n" and (tmp_path / "hosts.yml").exists()
    listed = _ansible_inventory(tmp_path)
    assert listed["monitoring"]["hosts"] == ["mon1"]
    assert listed["_meta"]["hostvars"]["mini1"]["corosync_token"] == 5000
    assert "mon1" not in listed["halab_nodes"]["hosts"]  # preflight and verify leave it alone


def test_owned_files_that_no_longer_apply_are_removed_and_nothing_else(tmp_path: Path) -> None:
    inventory = build_inventory(load_cluster(THREE))
    write_inventory(inventory, tmp_path, THREE.name)
    (tmp_path / "host_vars" / "aa2" / "local.yml").write_text("x: 1\n")
    del inventory.host_vars["aa2"], inventory.host_vars["aa3"]
    inventory.group_vars.pop("cluster_members", None)
    inventory.group_vars["gone"] = {}
    write_inventory(inventory, tmp_path, THREE.name)
    inventory.group_vars.pop("gone")
    changes = write_inventory(inventory, tmp_path, THREE.name)
    assert changes.removed == ["group_vars/gone/halab.yml"]
    assert not (tmp_path / "group_vars" / "gone").exists()  # left empty: removed
    assert not (tmp_path / "host_vars" / "aa3").exists()
    assert (tmp_path / "host_vars" / "aa2" / "local.yml").exists()  # the operator's file keeps its directory
    assert not (tmp_path / "host_vars" / "aa2" / "halab.yml").exists()


def test_an_edited_owned_file_is_refused_naming_it_then_forced(halab, tmp_path: Path) -> None:
    code, _, err = halab("inventory", MINIMAL, "-o", tmp_path)
    assert code == 0, err
    generated = tmp_path / "group_vars" / "all" / "halab.yml"
    edited = generated.read_text().replace("corosync_token: 3000", "corosync_token: 9000")
    generated.write_text(edited)
    code, out, err = halab("inventory", MINIMAL, "-o", tmp_path)
    assert code == 2 and out == "", out
    assert "group_vars/all/halab.yml: was edited since halab wrote it" in err
    assert "sibling override file" in err and "--force" in err and "Traceback" not in err
    assert generated.read_text() == edited  # nothing written
    code, out, err = halab("inventory", MINIMAL, "-o", tmp_path, "--force")
    assert code == 0 and "changed group_vars/all/halab.yml" in out, err
    assert "corosync_token: 3000" in generated.read_text()


def test_an_operator_file_where_halab_writes_is_refused(halab, tmp_path: Path) -> None:
    (tmp_path / "host_vars" / "mini1").mkdir(parents=True)
    (tmp_path / "host_vars" / "mini1" / "halab.yml").write_text("mine: 1\n")
    code, _, err = halab("inventory", MINIMAL, "-o", tmp_path)
    assert code == 2 and "host_vars/mini1/halab.yml: exists and halab did not write it" in err, err


def test_regeneration_prints_added_changed_removed(halab, tmp_path: Path) -> None:
    code, out, err = halab("inventory", MINIMAL, "-o", tmp_path)
    assert code == 0 and "added hosts.halab.yml" in out and "added host_vars/mini1/halab.yml" in out, err
    code, out, _ = halab("inventory", MINIMAL, "-o", tmp_path)
    assert out.splitlines() == [f"{tmp_path}/: 0 added, 0 changed, 0 removed, 5 unchanged"]


@pytest.mark.parametrize("line", ["not a manifest", "0" * 64 + "  ../victim", "0" * 64 + "  host_vars/a/local.yml"])
def test_a_damaged_manifest_is_refused(halab, tmp_path: Path, line: str) -> None:
    _generate(tmp_path)
    (tmp_path / "victim").write_text("keep\n")
    (tmp_path / MANIFEST).write_text(line + "\n")
    code, _, err = halab("inventory", MINIMAL, "-o", tmp_path)
    assert code == 2 and f"{MANIFEST}:1" in err and "Traceback" not in err, err
    assert (tmp_path / "victim").read_text() == "keep\n"


def test_an_inventory_of_an_earlier_halab_is_taken_over(tmp_path: Path) -> None:
    """No manifest: files with halab's header are its own (hosts.yml, a removed node's)."""
    header = "# Generated by `halab inventory` from minimal.yml. Regeneration overwrites this file;\n"
    (tmp_path / "hosts.yml").write_text(header + "all: {}\n")
    (tmp_path / "host_vars" / "old").mkdir(parents=True)
    (tmp_path / "host_vars" / "old" / "halab.yml").write_text(header + "a: 1\n")
    (tmp_path / "group_vars" / "all").mkdir(parents=True)
    (tmp_path / "group_vars" / "all" / "local.yml").write_text("b: 2\n")
    changes = _generate(tmp_path)
    assert changes.removed == ["host_vars/old/halab.yml", "hosts.yml"]
    assert (tmp_path / "group_vars" / "all" / "local.yml").exists()


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.stem for e in EXAMPLES])
def test_the_inventory_read_back_through_ansible_renders_the_same_files(tmp_path: Path, example: Path) -> None:
    """What verify expects from an inventory directory (read by ansible-inventory) is what
    the model renders, secrets redacted the same way."""
    inventory = build_inventory(load_cluster(example))
    write_inventory(inventory, tmp_path, example.name)
    assert render_all(read_inventory(tmp_path)) == render_all(inventory)


def test_verify_expects_the_overrides_of_the_inventory(tmp_path: Path) -> None:
    _generate(tmp_path)
    (tmp_path / "group_vars" / "all" / "local.yml").write_text(
        "corosync_quorum_wait_for_all: false\npacemaker_cluster_properties_local: {no-quorum-policy: freeze}\n")
    rendered = {(f.host, f.dest): f.content for f in render_all(read_inventory(tmp_path))}
    assert "wait_for_all: 0" in rendered[("mini1", "/etc/corosync/corosync.conf")]
    assert 'name="no-quorum-policy" value="freeze"' in rendered[(None, "cluster/cib.xml")]


def test_runs_with_inventory_connect_as_the_inventory_says(tmp_path: Path) -> None:
    _generate(tmp_path)
    (tmp_path / "host_vars" / "mini1" / "local.yml").write_text("ansible_host: 203.0.113.7\nansible_port: 2222\n")
    cluster = load_cluster(MINIMAL).with_inventory(tmp_path)
    argv = Hosts(cluster).argv("mini1", "true")
    assert argv[-2:] == ["203.0.113.7", "true"] and argv[argv.index("-p") + 1] == "2222"


def test_an_inventory_of_another_cluster_version_is_refused(halab, tmp_path: Path) -> None:
    _generate(tmp_path)
    changed = tmp_path / "c.yml"
    data = yaml.safe_load(MINIMAL.read_text())
    data.setdefault("corosync", {})["token"] = 4000
    changed.write_text(yaml.safe_dump(data))
    code, _, err = halab("status", changed, "--inventory", tmp_path)
    assert code == 2 and "generated from another version of the cluster file" in err, err
    assert f"halab inventory FILE -o {tmp_path}" in err


@pytest.mark.parametrize(("extra", "message"), [(["--ssh-config", "x.cfg"], "is not taken with --inventory"),
                                                 ([], "is not a directory")])
def test_inventory_option_bad_input(halab, tmp_path: Path, extra: list[str], message: str) -> None:
    (tmp_path / "x.cfg").write_text("Host mini1\n  User a\nHost mini2\n  User b\n")
    inventory = tmp_path / "inv" if extra else tmp_path / "missing"
    if extra:
        _generate(inventory)
    args = [a.replace("x.cfg", str(tmp_path / "x.cfg")) for a in extra]
    code, _, err = halab("status", MINIMAL, *args, "--inventory", inventory)
    assert code == 2 and message in err and "Traceback" not in err, err
