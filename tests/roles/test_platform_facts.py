"""halab.ha.platform_facts against `setup` on this machine (local connection): the same
names and values for every fact the roles choose their variables by, so replacing
`setup` changes nothing but the time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "collections" / "ansible_collections" / "halab" / "ha" / "plugins" / "action"))
from platform_facts import SEPARATOR, platform_facts  # noqa: E402

COMPARED = ["os_family", "distribution", "distribution_version", "distribution_major_version",
            "distribution_release", "nodename", "hostname", "pkg_mgr"]  # fmt: skip


def _facts(tmp_path: Path, task: dict) -> dict:
    out = tmp_path / "facts.json"
    play = [{"hosts": "localhost", "connection": "local", "gather_facts": False, "tasks": [
        task, {"ansible.builtin.copy": {"dest": str(out), "content": "{{ ansible_facts | to_json }}"}}]}]  # fmt: skip
    (tmp_path / "play.yml").write_text(yaml.safe_dump(play))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / "collections"), ANSIBLE_NOCOLOR="1")
    done = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", str(tmp_path / "play.yml"),
         "-e", f"ansible_python_interpreter={sys.executable}"],
        capture_output=True, text=True, env=env, check=False)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(out.read_text())


@pytest.mark.skipif(not Path("/etc/os-release").exists(), reason="needs /etc/os-release")
def test_the_same_facts_as_setup(tmp_path: Path) -> None:
    setup = _facts(tmp_path, {"ansible.builtin.setup": {"gather_subset": ["!all"]}})
    ours = _facts(tmp_path, {"halab.ha.platform_facts": {}})
    assert {key: ours.get(key) for key in COMPARED} == {key: setup.get(key) for key in COMPARED}


def test_debian_13_and_a_redhat_family_host() -> None:
    trixie = ('PRETTY_NAME="Debian GNU/Linux 13 (trixie)"\nNAME="Debian GNU/Linux"\nVERSION_ID="13"\n'
              "ID=debian\nVERSION_CODENAME=trixie\n")
    output = f"{trixie}{SEPARATOR}\n13.2\n{SEPARATOR}\nweb1.lab\n{SEPARATOR}\nsystemd\n"
    assert platform_facts(output.replace("\n", "\r\n")) == platform_facts(output)  # ssh with a pty
    facts = platform_facts(output)
    assert facts == {"os_family": "Debian", "distribution": "Debian", "distribution_version": "13.2",
                     "distribution_major_version": "13", "distribution_release": "trixie", "nodename": "web1.lab",
                     "hostname": "web1", "pkg_mgr": "apt", "service_mgr": "systemd"}  # fmt: skip
    rocky = 'NAME="Rocky Linux"\nVERSION_ID="9.4"\nID="rocky"\nID_LIKE="rhel centos fedora"\n'
    facts = platform_facts(f"{rocky}{SEPARATOR}\n\n{SEPARATOR}\nn1\n{SEPARATOR}\n\n")
    assert (facts["os_family"], facts["distribution_major_version"], facts["pkg_mgr"]) == ("RedHat", "9", "dnf")
    assert "service_mgr" not in facts
