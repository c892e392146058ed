"""Secrets: one rule for where they come from and what they may hold, checked before any
host is touched, resolved by Ansible through the halab.ha.secret lookup, never shown."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from halab.inventory import build_inventory, write_inventory
from halab.paths import collections_dir
from halab.secrets import check_secrets, rules
from halab.validation import load_cluster

from .conftest import ROOT
from .test_validation import VAULTED  # "s3cret", vault password "vpass"

LVS = ROOT / "examples" / "lvs-dr.yml"
WEB = ROOT / "examples" / "web-ap.yml"


def _with(tmp_path: Path, example: Path, old: str, new: str) -> Path:
    text = example.read_text()
    assert old in text
    path = tmp_path / example.name
    path.write_text(text.replace(old, new))
    return path


def test_file_rule_strips_one_final_newline_and_wants_one_line(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    for content, value in (("s3cret\n", "s3cret"), ("s3cret\r\n", "s3cret"), ("s3cret", "s3cret"), (" s \n", " s ")):
        secret.write_text(content)
        secret.chmod(0o600)
        assert rules().resolve({"name": "x", "file": str(secret), "format": "line"}) == value
    secret.write_text("line one\nline two\n")
    with pytest.raises(rules().SecretError, match="control character"):
        rules().resolve({"name": "x", "file": str(secret), "format": "line"})


def test_world_readable_secret_file_is_refused_at_validate(halab, tmp_path: Path) -> None:
    secret = tmp_path / "ipmi"
    secret.write_text("pw\n")
    secret.chmod(0o644)
    path = _with(tmp_path, WEB, "password: {env: HALAB_IPMI_PASSWORD}", f"password: {{file: {secret}}}")
    code, _, err = halab("validate", path)
    assert code == 2 and "fencing.devices[0].password.file" in err and "readable by others" in err, err
    secret.chmod(0o600)
    code, _, err = halab("validate", path)
    assert code == 0, err


def test_secret_values_are_checked_for_their_target_before_any_host(halab, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HALAB_VRRP_PASS", "much-too-long")  # keepalived keeps 8 characters
    code, _, err = halab("deploy", LVS)  # its hosts do not exist: only the secret check can answer
    assert code == 2, err
    assert "vrrp.instances[0].auth_pass" in err and "at most 8" in err and "no host was touched" in err
    assert "much-too-long" not in err
    monkeypatch.delenv("HALAB_VRRP_PASS")
    code, _, err = halab("deploy", LVS)
    assert code == 2 and "HALAB_VRRP_PASS is not set" in err, err


@pytest.mark.parametrize(("value", "problem"), [("x" * 64, "longer than 63 bytes"), ('a"b', "double quotes"),
                                               ("a\\b", "double quotes"), ("caf\u00e9", "printable ASCII")])
def test_a_drbd_shared_secret_is_checked_against_drbd_before_any_host(halab, monkeypatch: pytest.MonkeyPatch,
                                                                      value: str, problem: str) -> None:
    monkeypatch.setenv("HALAB_DRBD_SECRET", value)
    code, _, err = halab("deploy", ROOT / "examples" / "drbd9-three-node.yml")
    assert code == 2 and "drbd.resources[0].shared_secret" in err and problem in err, err
    assert value not in err
    assert rules().format_problem("x" * 63, "drbd_shared_secret") is None
    assert rules().format_problem("a#b;c{d}e f'g", "drbd_shared_secret") is None


def test_vault_secrets_are_decrypted_here_to_check_them(tmp_path: Path) -> None:
    cluster = load_cluster(_with(tmp_path, LVS, "auth_pass: {env: HALAB_VRRP_PASS}", "auth_pass: " + VAULTED))
    assert [p.message for p in check_secrets(cluster)] == ["an !vault secret needs the vault password"]
    good, bad = tmp_path / "good", tmp_path / "bad"
    good.write_text("vpass\n")
    bad.write_text("wrong\n")
    assert check_secrets(cluster, str(good)) == []
    [problem] = check_secrets(cluster, str(bad))
    assert "cannot be decrypted" in problem.message


def _resolve_with_ansible(tmp_path: Path, cluster_file: Path, env: dict[str, str], *extra: str):
    """Run a local play that resolves the hacluster password through the generated inventory."""
    inventory = tmp_path / "inventory"
    write_inventory(build_inventory(load_cluster(cluster_file)), inventory, str(cluster_file))
    play = tmp_path / "play.yml"
    play.write_text(
        "- hosts: cluster_members[0]\n  gather_facts: false\n  tasks:\n"
        "    - ansible.builtin.copy:\n        content: '{{ pacemaker_hacluster_password }}'\n"
        f"        dest: {tmp_path}/resolved\n        mode: '0600'\n      no_log: true\n"
    )
    argv = ["ansible-playbook", "-i", str(inventory), "-e", "ansible_connection=local",
            "-e", f"ansible_python_interpreter={sys.executable}", *extra, str(play)]  # fmt: skip
    run_env = os.environ | env | {"ANSIBLE_COLLECTIONS_PATH": str(collections_dir()), "ANSIBLE_NOCOLOR": "1"}
    return subprocess.run(argv, env=run_env, capture_output=True, text=True, check=False)


def test_ansible_resolves_each_kind_of_secret_source(tmp_path: Path) -> None:
    pw_file = tmp_path / "pw"
    pw_file.write_text("from-a-file\n")
    pw_file.chmod(0o600)
    vault_pw = tmp_path / "vault-pw"
    vault_pw.write_text("vpass\n")
    sources = {
        "{env: HALAB_HACLUSTER_PASSWORD}": ("from-the-env", []),
        f"{{file: {pw_file}}}": ("from-a-file", []),
        VAULTED: ("s3cret", [f"--vault-password-file={vault_pw}"]),
    }
    for written, (value, extra) in sources.items():
        cluster_file = _with(tmp_path, WEB, "hacluster_password: {env: HALAB_HACLUSTER_PASSWORD}",
                             f"hacluster_password: {written}")  # fmt: skip
        run = _resolve_with_ansible(tmp_path, cluster_file, {"HALAB_HACLUSTER_PASSWORD": "from-the-env",
                                                             "HALAB_IPMI_PASSWORD": "x"}, *extra)  # fmt: skip
        assert run.returncode == 0, run.stdout[-2000:]
        assert (tmp_path / "resolved").read_text() == value


def test_a_bad_secret_fails_in_ansible_naming_the_secret_never_the_value(tmp_path: Path) -> None:
    run = _resolve_with_ansible(tmp_path, WEB, {"HALAB_HACLUSTER_PASSWORD": "two\nlines-secret",
                                                "HALAB_IPMI_PASSWORD": "x"})  # fmt: skip
    assert run.returncode != 0
    assert "secret pacemaker.hacluster_password" in run.stdout and "control character" in run.stdout, run.stdout
    assert "lines-secret" not in run.stdout + run.stderr
