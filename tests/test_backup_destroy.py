"""`halab backup` and `halab destroy` offline: secrets redacted (in a CIB Pacemaker wrote and
in keepalived.conf), the manifest, the refusals (existing output, no confirmation, DRBD
Primary) with nothing touched, the modes with --with-secrets, and the cluster_destroy role
against the files `halab render` lists (the runs on hosts: tests/lab/test_operator_state.py)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml
from click.testing import CliRunner

from halab import backup as backup_module
from halab import destroy as destroy_module
from halab.backup import cib_secret_names, redact_cib, redact_file, secret_line_patterns
from halab.cli import run
from halab.inventory import build_inventory
from halab.remote import Result
from halab.render import CIB_FILE, SECRET_PLACEHOLDER, installed_files, render_all
from halab.rolevars import role_defaults
from halab.validation import load_cluster

from .conftest import ROOT

WEB = str(ROOT / "examples" / "web-ap-nodrbd.yml")
DRBD = str(ROOT / "examples" / "web-ap.yml")
DRBD9 = ROOT / "examples" / "drbd9-three-node.yml"
VRRP = str(ROOT / "examples" / "lvs-dr.yml")
# Written by Pacemaker (crm_simulate --save-output) from web-ap-nodrbd's rendered CIB, with
# this fence password: a CIB as `cibadmin --query` prints it, status section included.
CIB_SAMPLE = (ROOT / "tests" / "data" / "backup" / "cib-query.xml").read_text()
FENCE_PASSWORD = "Fence-Pw.9x"
VRRP_PASSWORD = "Vr9-pass"
CRM_MON = (ROOT / "tests" / "data" / "status" / "crm_mon-healthy.xml").read_text()


def _rendered_cib(path: str) -> str:
    return next(f.content for f in render_all(build_inventory(load_cluster(path))) if f.dest == CIB_FILE)


def test_the_fence_passwords_of_a_real_cib_are_redacted() -> None:
    assert CIB_SAMPLE.count(FENCE_PASSWORD) == 4
    names = cib_secret_names(_rendered_cib(WEB))
    assert names == {"password"}
    sample = CIB_SAMPLE.replace('name="username"', 'name="passwd_script"', 1)  # one added by hand
    redacted = redact_cib(sample, names)
    assert FENCE_PASSWORD not in redacted
    assert redacted.count(f'value="{SECRET_PLACEHOLDER}"') == 5
    assert 'name="ip" value="198.18.50.1"' in redacted and "<status>" in redacted  # the rest stays


def test_the_vrrp_password_of_keepalived_conf_is_redacted() -> None:
    rendered = next(f.content for f in render_all(build_inventory(load_cluster(VRRP)))
                    if f.dest.endswith("keepalived.conf"))  # fmt: skip
    installed = rendered.replace(SECRET_PLACEHOLDER, VRRP_PASSWORD)
    assert VRRP_PASSWORD in installed
    patterns = secret_line_patterns(rendered)
    assert patterns, "keepalived.conf of lvs-dr.yml holds an auth_pass"
    assert redact_file(installed, patterns) == rendered


def test_the_drbd_shared_secret_of_a_resource_file_is_redacted() -> None:
    rendered = next(f.content for f in render_all(build_inventory(load_cluster(DRBD9)))
                    if f.dest.endswith("pgdata.res"))  # fmt: skip
    installed = rendered.replace(SECRET_PLACEHOLDER, 'a#b;c{d}e f')
    patterns = secret_line_patterns(rendered)
    assert patterns, "pgdata.res of drbd9-three-node.yml holds a shared secret"
    assert redact_file(installed, patterns) == rendered


def test_a_secret_line_without_text_of_its_own_leaves_the_file_out() -> None:
    assert secret_line_patterns(f"a = 1\n  {SECRET_PLACEHOLDER}\n") is None
    assert secret_line_patterns("no secret here\n") == []


class FakeHosts:
    """The nodes of web-ap-nodrbd as the backup reads them: the installed files are the
    rendered ones with the secrets in, the CIB the sample above."""

    commands: ClassVar[list[str]] = []

    def __init__(self, cluster: Any) -> None:
        self.files = {(f.host, f.dest): f.content.replace(SECRET_PLACEHOLDER, FENCE_PASSWORD)
                      for fs in installed_files(build_inventory(cluster)).values() for f in fs}  # fmt: skip

    def answer(self, host: str, command: str) -> Result:
        FakeHosts.commands.append(command)
        if command == backup_module.CIB_QUERY:
            return Result(host, 0, CIB_SAMPLE, "")
        if command == backup_module.CRM_MON:
            return Result(host, 0, CRM_MON, "")
        if command.startswith("dpkg-query"):
            return Result(host, 0, "corosync\t3.1.9-1\tii \npacemaker\t3.0.0-1\tii \n", "")
        dest = next(d for h, d in self.files if h == host and command.endswith(f"cat -- {d}"))
        return Result(host, 0, self.files[(host, dest)], "")

    def run_all(self, jobs: list[tuple[str, str]], timeout: float = 15) -> dict[tuple[str, str], Result]:
        return {job: self.answer(*job) for job in jobs}


@pytest.fixture
def nodes(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[FakeHosts]]:
    FakeHosts.commands = []
    monkeypatch.setattr(backup_module, "Hosts", FakeHosts)
    previous = os.umask(0o022)
    yield FakeHosts
    os.umask(previous)


def _archive(path: Path) -> dict[str, tuple[bytes, int]]:
    with tarfile.open(path) as tar:
        return {m.name: (tar.extractfile(m).read(), m.mode) for m in tar.getmembers()}  # type: ignore[union-attr]


def test_backup_writes_an_archive_with_a_manifest_and_no_secret(tmp_path: Path, nodes: type[FakeHosts]) -> None:
    out = tmp_path / "webnd.tar.gz"
    assert run(["backup", WEB, "-o", str(out)]) == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o644
    members = _archive(out)
    assert {"web1/cib.xml", "web1/crm_mon.xml", "web1/packages.tsv", "web1/etc/corosync/corosync.conf",
            "web2/etc/apache2/sites-available/halab.conf", "manifest.json"} <= set(members)  # fmt: skip
    assert not any(FENCE_PASSWORD.encode() in data for data, _ in members.values())
    manifest = json.loads(members["manifest.json"][0])
    assert manifest["cluster"] == "webnd" and manifest["with_secrets"] is False and manifest["created"]
    for node, record in manifest["nodes"].items():
        assert record["missing"] == [] and record["errors"] == [], node
        for path, entry in record["files"].items():
            assert entry["sha256"] == hashlib.sha256(members[path][0]).hexdigest(), path
    assert manifest["nodes"]["web1"]["files"]["web1/cib.xml"]["redacted"] is True
    reads = ("test -e ", backup_module.CIB_QUERY, backup_module.CRM_MON, "dpkg-query --show ")
    assert all(command.startswith(reads) for command in nodes.commands)  # read-only


def test_backup_with_secrets_is_private_from_the_start(tmp_path: Path, nodes: type[FakeHosts]) -> None:
    out = tmp_path / "webnd.tgz"
    assert run(["backup", WEB, "-o", str(out), "--with-secrets"]) == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    members = _archive(out)
    assert FENCE_PASSWORD.encode() in members["web1/cib.xml"][0]
    assert {mode for _, mode in members.values()} == {0o600}
    directory = tmp_path / "webnd-dir"
    assert run(["backup", WEB, "-o", str(directory), "--with-secrets"]) == 0
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    written = [p for p in directory.rglob("*") if p.is_file()]
    assert written and {stat.S_IMODE(p.stat().st_mode) for p in written} == {0o600}
    assert {stat.S_IMODE(p.stat().st_mode) for p in directory.rglob("*") if p.is_dir()} == {0o700}


def test_backup_refuses_an_existing_output(tmp_path: Path, nodes: type[FakeHosts], capsys) -> None:
    out = tmp_path / "old.tar.gz"
    out.write_text("keep me")
    assert run(["backup", WEB, "-o", str(out)]) == 2
    assert "-o:" in capsys.readouterr().err and out.read_text() == "keep me" and nodes.commands == []
    assert run(["backup", WEB, "-o", str(tmp_path / "no" / "such" / "dir.tgz")]) == 2
    assert run(["backup", WEB, "-o", str(out), "--force"]) == 0
    assert "manifest.json" in _archive(out)


def _cli(args: list[str], stdin: str) -> tuple[int, str]:
    """halab's entry point (its exit codes) with `stdin` typed in."""
    with CliRunner().isolation(input=stdin) as streams:
        code = run(args)
        return code, streams[1].getvalue().decode() if len(streams) > 1 else ""


class Touched(Exception):
    """A host would have been touched."""


@pytest.fixture
def playbook(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """destroy's run recorded, no host reached: prepare and run_playbook faked."""
    seen: dict[str, Any] = {}

    class Runner:
        status = "successful"

    def fake_run(run_dir: Any, name: str, **kwargs: Any) -> Runner:
        seen.update(playbook=name, extra=kwargs["options"].extra_vars)
        return Runner()

    monkeypatch.setattr(destroy_module, "prepare", lambda *a, **k: type("RunDir", (), {"path": Path("/nonexistent")}))
    monkeypatch.setattr(destroy_module, "run_playbook", fake_run)
    return seen


def test_destroy_without_the_typed_name_touches_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    def touched(*args: Any, **kwargs: Any) -> None:
        raise Touched

    monkeypatch.setattr(destroy_module, "Hosts", touched)
    monkeypatch.setattr(destroy_module, "prepare", touched)
    for typed in ("web\n", "", "WEBND\n"):
        code, err = _cli(["destroy", WEB], typed)
        assert code == 2 and "not destroying (nothing was touched)" in err and "confirmation:" in err, err


def test_destroy_runs_the_playbook_after_the_typed_name(playbook: dict[str, Any]) -> None:
    code, _ = _cli(["destroy", WEB], "webnd\n")
    assert code == 0 and playbook["playbook"] == "destroy.yml"
    assert playbook["extra"] == {"cluster_destroy_confirm": "webnd", "cluster_destroy_purge": False,
                                 "cluster_destroy_force_data_loss": False}  # fmt: skip
    code, _ = _cli(["destroy", WEB, "--yes", "--purge"], "")
    assert code == 0 and playbook["extra"]["cluster_destroy_purge"] is True


def test_ctrl_c_at_the_prompt_is_an_interrupt(monkeypatch: pytest.MonkeyPatch) -> None:
    class Interrupted(io.StringIO):
        def readline(self, *args: Any) -> str:
            raise KeyboardInterrupt

    monkeypatch.setattr(destroy_module.sys, "stdin", Interrupted())
    assert run(["destroy", WEB]) == 130


def test_destroy_refuses_while_drbd_is_primary(monkeypatch: pytest.MonkeyPatch, playbook: dict[str, Any]) -> None:
    status = (ROOT / "tests" / "data" / "status" / "drbdsetup-9-ap1.json").read_text()

    class DrbdHosts:
        def __init__(self, cluster: Any) -> None:
            pass

        def run_all(self, jobs: list[tuple[str, str]], timeout: float = 15) -> dict[tuple[str, str], Result]:
            return {job: Result(job[0], 0, status if job[0] == "ap1" else "[]", "") for job in jobs}

    monkeypatch.setattr(destroy_module, "Hosts", DrbdHosts)
    code, err = _cli(["destroy", DRBD, "--yes"], "")
    assert code == 2 and playbook == {} and "--force-data-loss: www is Primary on ap1" in err, err
    code, _ = _cli(["destroy", DRBD, "--yes", "--force-data-loss"], "")
    assert code == 0 and playbook["extra"]["cluster_destroy_force_data_loss"] is True


def _destroy_vars() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "roles" / "cluster_destroy" / "vars" / "main.yml").read_text())


@pytest.mark.parametrize("example", sorted((ROOT / "examples").glob("*.yml")), ids=lambda p: p.stem)
def test_destroy_removes_every_file_render_lists(example: Path) -> None:
    """The role's lists against the files the roles install, as `halab render` lists them."""
    known, defaults = _destroy_vars(), role_defaults("cluster_destroy")
    inventory = build_inventory(load_cluster(example))
    by_group = {defaults["cluster_destroy_members_group"]: known["__cluster_destroy_member_files"],
                defaults["cluster_destroy_directors_group"]: known["__cluster_destroy_director_files"],
                defaults["cluster_destroy_realservers_group"]: known["__cluster_destroy_realserver_files"],
                defaults["cluster_destroy_apache_group"]: known["__cluster_destroy_apache_files"]}  # fmt: skip
    for host, files in installed_files(inventory).items():
        hostvars = inventory.hostvars(host)
        removed = {path for group, paths in by_group.items() if host in inventory.groups.get(group, [])
                   for path in paths}  # fmt: skip
        drbd_dir = known["__cluster_destroy_drbd_conf_dir"]
        removed |= {f"{drbd_dir}/{r['name']}.res" for r in hostvars.get("drbd_resources", [])}
        removed |= {f"{hostvars.get('apache_document_root')}/index.html", "/etc/apache2/ports.conf"}  # ports.conf: kept
        removed |= {f["path"] for f in hostvars.get("services_files", [])}  # those a package owns: kept
        assert {f.dest for f in files} <= removed, host


def test_destroy_purges_the_ha_stack_that_upgrade_upgrades() -> None:
    assert role_defaults("cluster_destroy")["cluster_destroy_packages"] == \
        role_defaults("cluster_upgrade")["cluster_upgrade_packages"]  # fmt: skip


def test_the_role_refuses_without_the_confirmation(tmp_path: Path) -> None:
    """Plain ansible-playbook: the role's first task stops the play (on this machine, where
    nothing else would run)."""
    inventory = tmp_path / "hosts.yml"
    inventory.write_text("halab_nodes:\n  hosts:\n    localhost:\n      ansible_connection: local\n"
                         "      halab_cluster_name: demo\n")  # fmt: skip
    for extra in ([], ["-e", "cluster_destroy_confirm=other"]):
        command = ["ansible-playbook", "-i", str(inventory), str(ROOT / "playbooks" / "destroy.yml"), *extra]
        done = subprocess.run(command,
                              capture_output=True, text=True, check=False, cwd=ROOT)  # fmt: skip
        assert done.returncode != 0 and "needs its name as confirmation" in done.stdout, done.stdout[-2000:]
        assert "Stop every resource" not in done.stdout
