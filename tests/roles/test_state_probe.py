"""The state_probe role run by ansible-playbook against this machine (local connection,
the same raw script as on a node): it reports nothing for a matching state and every
kind of difference otherwise, missing packages included."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from halab.paths import module_util

ROOT = Path(__file__).resolve().parents[2]
RESULT = ("{{ {'drift': state_probe_drift, 'missing': state_probe_missing_packages,"
          " 'values': state_probe_values} | to_json }}")

pytestmark = pytest.mark.skipif(shutil.which("dpkg-query") is None, reason="needs dpkg-query")


def probe(tmp_path: Path, **wanted: object) -> dict:
    """Run state_probe with `wanted` as its variables; return its result facts (and keep
    ansible-playbook's output in tmp_path/output.txt)."""
    out = tmp_path / "out.json"
    play = [{"hosts": "localhost", "connection": "local", "gather_facts": False, "tasks": [
        {"ansible.builtin.include_role": {"name": "state_probe"}, "vars": wanted},
        {"ansible.builtin.copy": {"dest": str(out), "content": RESULT}},
    ]}]
    playbook = tmp_path / "play.yml"
    playbook.write_text(yaml.safe_dump(play))
    env = dict(os.environ, ANSIBLE_ROLES_PATH=str(ROOT / "roles"), ANSIBLE_NOCOLOR="1", ANSIBLE_VERBOSITY="1")
    done = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", str(playbook),
         "-e", f"ansible_python_interpreter={sys.executable}"],
        capture_output=True, text=True, env=env, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    (tmp_path / "output.txt").write_text(done.stdout + done.stderr)
    return json.loads(out.read_text())


def test_matching_state_has_no_drift(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir(mode=0o750)
    (tmp_path / "d").chmod(0o750)
    (tmp_path / "d" / "a.conf").write_text("x\n")
    (tmp_path / "d" / "a.conf").chmod(0o644)
    owner = {"owner": Path(tmp_path).owner(), "group": Path(tmp_path).group()}
    result = probe(
        tmp_path,
        state_probe_packages=["dpkg"],
        state_probe_files=[{"path": str(tmp_path / "d" / "a.conf"), "content": "x\n", **owner}],
        state_probe_directories=[{"path": str(tmp_path / "d"), "mode": "0750", **owner}],
        state_probe_present=[str(tmp_path / "d")],
        state_probe_absent=[str(tmp_path / "nothing")],
        state_probe_checks=[{"name": "true", "cmd": "true"}],
        state_probe_reports=[{"name": "greeting", "cmd": "echo hello world"}],
    )
    assert result == {"drift": [], "missing": [], "values": {"greeting": "hello world"}}


def test_every_difference_is_reported(tmp_path: Path) -> None:
    (tmp_path / "a.conf").write_text("edited by hand\n")
    (tmp_path / "b.conf").write_text("y\n")
    (tmp_path / "b.conf").chmod(0o600)
    owner = {"owner": Path(tmp_path).owner(), "group": Path(tmp_path).group()}
    result = probe(
        tmp_path,
        state_probe_packages=["dpkg", "halab-no-such-package"],
        state_probe_files=[{"path": str(tmp_path / "a.conf"), "content": "x\n", **owner},
                           {"path": str(tmp_path / "b.conf"), "content": "y\n", **owner},
                           {"path": str(tmp_path / "c.conf"), "content": "z\n", **owner}],
        state_probe_directories=[{"path": str(tmp_path / "a.conf"), **owner}],
        state_probe_present=[str(tmp_path / "nothing")],
        state_probe_absent=[str(tmp_path / "b.conf")],
        state_probe_checks=[{"name": "false", "cmd": "false"}],
    )
    drift = "\n".join(result["drift"])
    assert result["missing"] == ["halab-no-such-package"]
    assert "package halab-no-such-package: not installed" in drift
    assert f"{tmp_path}/a.conf: want file 644" in drift  # content
    assert f"{tmp_path}/b.conf: want file 644" in drift and "have file 600" in drift  # mode
    assert f"{tmp_path}/c.conf: want file 644" in drift and "have missing" in drift
    assert f"{tmp_path}/a.conf: want dir" in drift  # a file where a directory belongs
    assert f"{tmp_path}/nothing: missing" in drift and f"{tmp_path}/b.conf: present" in drift
    assert "check false: failed" in drift
    assert len(result["drift"]) == 8, result["drift"]


def test_a_secret_file_is_compared_without_its_checksum_leaving_the_controller(tmp_path: Path) -> None:
    """The probe script is a process argument on the node and a task argument in the run's
    events: a checksum of a short VRRP password there could be brute-forced."""
    import hashlib

    secret = "auth_pass s3cr3tPw\n"
    owner = {"owner": Path(tmp_path).owner(), "group": Path(tmp_path).group(), "mode": "0600", "secret": True}
    conf = tmp_path / "k.conf"
    conf.write_text(secret)
    conf.chmod(0o600)
    same = probe(tmp_path, state_probe_files=[{"path": str(conf), "content": secret, **owner}])
    assert same["drift"] == []
    output = (tmp_path / "output.txt").read_text()
    assert "censored" in output and hashlib.sha256(secret.encode()).hexdigest() not in output
    conf.write_text("auth_pass other\n")
    changed = probe(tmp_path, state_probe_files=[{"path": str(conf), "content": secret, **owner}])
    assert changed["drift"] == [f"{conf}: differs (it holds a secret: not shown)"]
    conf.chmod(0o644)
    conf.write_text(secret)
    assert probe(tmp_path, state_probe_files=[{"path": str(conf), "content": secret, **owner}])["drift"] != []


def test_reports_about_a_secret_stay_out_of_the_log(tmp_path: Path) -> None:
    """state_probe_no_log: the drbd role's report holds the checksums of resource files
    with a shared secret; the probe then runs no_log, its values still reach the caller."""
    checksum = "0" * 63 + "1"
    result = probe(tmp_path, state_probe_no_log=True,
                   state_probe_reports=[{"name": "sum", "cmd": f"echo {checksum}"}])
    assert result["values"] == {"sum": checksum}
    output = (tmp_path / "output.txt").read_text()
    assert "censored" in output and checksum not in output


def test_a_password_is_checked_on_the_controller_and_its_hash_stays_out_of_the_log(tmp_path: Path) -> None:
    """The node prints the user's shadow hash (no_log) and the controller checks the
    password against it: an unchanged password costs no module, and neither the
    password nor the hash appears in the output."""
    password = "hacluster-Pw-1"
    hashed = module_util("sha512_crypt").new_hash(password)
    shadow = tmp_path / "shadow"
    shadow.write_text(f"root:!:19000::::::\nhacluster:{hashed}:19000:0:99999:7:::\n")
    wanted = {"state_probe_shadow": str(shadow),
              "state_probe_passwords": [{"user": "hacluster", "password": password}]}
    assert probe(tmp_path, **wanted)["drift"] == []
    output = (tmp_path / "output.txt").read_text()
    assert "censored" in output and hashed not in output and password not in output
    wanted["state_probe_passwords"] = [{"user": "hacluster", "password": "another"}]
    assert probe(tmp_path, **wanted)["drift"] == ["password of hacluster: differs"]
    shadow.write_text("hacluster:$y$j9T$abc$def:19000::::::\n")
    wanted["state_probe_passwords"] = [{"user": "hacluster", "password": password}]
    assert probe(tmp_path, **wanted)["drift"] == ["password of hacluster: differs"]
    shadow.write_text("root:!:19000::::::\n")
    assert probe(tmp_path, **wanted)["drift"] == ["password of hacluster: differs"]
