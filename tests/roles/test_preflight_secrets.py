"""The preflight role's secret checks run by ansible-playbook on this machine (local
connection): variables a hand-edited inventory fills with lookups must resolve to a
value; the failure names the variable and the entry, never a value."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
SECRETS = ROOT / "roles" / "preflight" / "tasks" / "secrets.yml"
FENCE = {"id": "bmc-web1", "agent": "stonith:fence_ipmilan", "params": {"ip": "198.18.0.1", "username": "admin"}}
VRRP = {"name": "VI_WEB", "auth_pass": "s3cret"}


def run_checks(tmp_path: Path, **inventory: object) -> subprocess.CompletedProcess[str]:
    play = [{"hosts": "localhost", "connection": "local", "gather_facts": False,
             "vars": {"preflight_secret_vars": ["pacemaker_hacluster_password", "pacemaker_primitives",
                                                "keepalived_instances"], **inventory},
             "tasks": [{"ansible.builtin.import_tasks": str(SECRETS)}]}]  # fmt: skip
    playbook = tmp_path / "play.yml"
    playbook.write_text(yaml.safe_dump(play))
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_COLLECTIONS_PATH=str(ROOT / "collections"),
               HALAB_TEST_EMPTY="", HALAB_TEST_SET="n0t-printed")  # fmt: skip
    return subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", str(playbook),
         "-e", f"ansible_python_interpreter={sys.executable}"],
        capture_output=True, text=True, env=env, check=False)  # fmt: skip


def test_resolved_values_pass(tmp_path: Path) -> None:
    secret = "{{ lookup('env', 'HALAB_TEST_SET') }}"
    done = run_checks(tmp_path, pacemaker_hacluster_password=secret,
                      pacemaker_primitives=[FENCE | {"params": FENCE["params"] | {"password": secret}}],
                      keepalived_instances=[VRRP, {"name": "VI_NOAUTH", "auth_pass": None}])  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "n0t-printed" not in done.stdout + done.stderr


def test_each_empty_value_is_named_without_a_value(tmp_path: Path) -> None:
    empty = "{{ lookup('env', 'HALAB_TEST_EMPTY') }}"
    done = run_checks(tmp_path, pacemaker_hacluster_password=empty,
                      pacemaker_primitives=[FENCE | {"params": FENCE["params"] | {"password": empty}}],
                      keepalived_instances=[VRRP | {"auth_pass": empty}])  # fmt: skip
    out = done.stdout + done.stderr
    assert done.returncode != 0, out
    assert "pacemaker_hacluster_password resolved to an empty value" in out
    assert "resource bmc-web1 has empty parameter(s) password" in out
    assert "instance VI_WEB auth_pass resolved to an empty value" in out
