"""halab's own commands (status, move, drills, backup) reach a host as its Ansible variables
say: the command lines built from them, offline, and what is refused before any host is
touched. The lab test tests/lab/test_sudo_user.py runs them against real sshd and sudo."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from halab.errors import InvalidInput, OperationFailed
from halab.remote import Hosts, Target, _Refused, target_of
from halab.validation import load_cluster

from .conftest import ROOT
from .test_inventory_ownership import _generate

MINIMAL = ROOT / "examples" / "minimal.yml"
HOST = {"ansible_host": "192.0.2.11", "ansible_port": 22, "ansible_user": "root"}
OPERATOR = HOST | {"ansible_user": "op", "ansible_become": True}
PASSWORD = "s3cret pass'word"


@pytest.fixture(autouse=True)
def _private_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HALAB_STATE_DIR", str(tmp_path / "state"))


def options_before_host(argv: list[str]) -> list[str]:
    return argv[: argv.index("--")]


def test_root_runs_the_command_as_it_is() -> None:
    argv = target_of(HOST).argv("crm_mon -1")
    assert argv[0] == "ssh" and argv[-3:] == ["--", "192.0.2.11", "crm_mon -1"]
    assert argv[argv.index("-l") + 1] == "root" and argv[argv.index("-p") + 1] == "22"
    assert "sudo" not in " ".join(argv)


def test_become_with_a_password_reads_it_on_stdin_only() -> None:
    target = target_of(OPERATOR | {"ansible_become_password": PASSWORD})
    argv = target.argv("crm_resource --move web")
    assert argv[argv.index("-l") + 1] == "op"
    assert argv[-1] == "sudo -H -S -p '' -u root -- sh -c 'exec </dev/null; crm_resource --move web'"
    assert target.stdin() == PASSWORD + "\n"
    assert PASSWORD not in " ".join(argv) and PASSWORD not in repr(target)


def test_become_without_a_password_never_waits_for_one() -> None:
    target = target_of(OPERATOR | {"ansible_become_user": "hacluster", "ansible_become_flags": "-H -S -n"})
    assert target.argv("crm_mon -1")[-1] == "sudo -H -n -u hacluster -- sh -c 'crm_mon -1'"
    assert target.stdin() is None


def test_key_port_timeout_and_jump_host_in_ansible_order() -> None:
    hostvars = OPERATOR | {
        "ansible_port": "2222", "ansible_ssh_private_key_file": "~/keys/id ed25519", "ansible_timeout": 30,
        "ansible_host_key_checking": "no", "ansible_ssh_common_args": "-o ProxyJump=jumper@jump.example.net:2022",
        "ansible_ssh_extra_args": "-vJ other -o 'IdentityFile=/a b/k'",
    }  # fmt: skip
    options = options_before_host(target_of(hostvars).argv("true"))
    assert options[options.index("-i") + 1] == os.path.expanduser("~/keys/id ed25519")
    assert options[options.index("-p") + 1] == "2222"
    assert "ConnectTimeout=30" in options and "StrictHostKeyChecking=no" in options
    common, extra = options.index("ProxyJump=jumper@jump.example.net:2022"), options.index("-vJ")
    assert common < extra < options.index("-l") and options[extra + 1 : extra + 4] == [
        "other",
        "-o",
        "IdentityFile=/a b/k",
    ]


def test_each_connection_has_its_own_master_socket() -> None:
    def control_path(hostvars: dict[str, Any]) -> str:
        return next(o for o in target_of(hostvars).argv("true") if o.startswith("ControlPath="))

    others = [OPERATOR, HOST | {"ansible_port": 2222}, HOST | {"ansible_host": "192.0.2.12"}]
    paths = {control_path(HOST), *(control_path(hostvars) for hostvars in others)}
    assert len(paths) == 4 and all(p.startswith(f"ControlPath={os.environ['HALAB_STATE_DIR']}/ssh/") for p in paths)


def test_a_local_connection_runs_here(tmp_path: Path) -> None:
    assert target_of({"ansible_connection": "local"}).argv("id -u") == ["sh", "-c", "id -u"]
    become = target_of({"ansible_connection": "local", "ansible_become": "yes"})
    assert become.argv("id -u") == ["sudo", "-H", "-n", "-u", "root", "--", "sh", "-c", "id -u"]


@pytest.mark.parametrize(
    ("variables", "variable", "message"),
    [
        ({"ansible_connection": "winrm"}, "ansible_connection", "'winrm' is not supported"),
        ({"ansible_become_method": "su"}, "ansible_become_method", "'su' is not supported"),
        ({"ansible_become_exe": "/tmp/sudo"}, "ansible_become_exe", "is not supported"),
        ({"ansible_become_flags": "-H -S -E"}, "ansible_become_flags", "take only -H -S -n"),
        ({"ansible_password": "x"}, "ansible_password", "an SSH password is not supported"),
        ({"ansible_user": "-oProxyCommand=x"}, "ansible_user", "is not a user name"),
        ({"ansible_user": "{{ lookup('pipe', 'id') }}"}, "ansible_user", "is a template"),
        ({"ansible_host": "-oProxyCommand=x"}, "ansible_host", "neither an IPv4 address nor a host name"),
        ({"ansible_host": "root@192.0.2.11"}, "ansible_host", "neither an IPv4 address nor a host name"),
        ({"ansible_port": "22 -oX"}, "ansible_port", "is not a port"),
        ({"ansible_ssh_private_key_file": "-oProxyCommand=x"}, "ansible_ssh_private_key_file", "is not a key file"),
        ({"ansible_ssh_common_args": "-o ProxyJump=j evil"}, "ansible_ssh_common_args", "'evil' is not an ssh option"),
        ({"ansible_ssh_extra_args": "-- touch /x"}, "ansible_ssh_extra_args", "'--' is not an ssh option"),
        ({"ansible_ssh_extra_args": "-o"}, "ansible_ssh_extra_args", "'-o' needs a value"),
        ({"ansible_ssh_extra_args": "-o 'x"}, "ansible_ssh_extra_args", "cannot be split"),
        ({"ansible_become": "maybe"}, "ansible_become", "'maybe' is not a boolean"),
        ({"ansible_user": "op"}, "ansible_become", "would run as op, not root"),
        ({"ansible_become": True, "ansible_become_password": "a\nb"}, "ansible_become_password", "control character"),
    ],
)
def test_what_cannot_be_honoured_is_refused(variables: dict[str, Any], variable: str, message: str) -> None:
    with pytest.raises(_Refused) as refused:
        target_of(HOST | variables)
    assert refused.value.variable == variable and message in refused.value.message


def _with_connection(tmp_path: Path, connection: str) -> Path:
    """minimal.yml with `connection` on both nodes (a flow mapping)."""
    text = MINIMAL.read_text()
    for node in ("mini1", "mini2"):
        text = text.replace(f"name: {node}, ", f"name: {node}, connection: {connection}, ")
    path = tmp_path / "cluster.yml"
    path.write_text(text)
    return path


def test_the_file_become_password_is_resolved_by_its_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUDO_PW", PASSWORD.replace("'", ""))
    path = _with_connection(tmp_path, "{user: op, become_password: {env: SUDO_PW}, vars: {ansible_become: true}}")
    hosts = Hosts(load_cluster(path))
    assert hosts.targets["mini2"].stdin() == PASSWORD.replace("'", "") + "\n"
    assert "-S" in hosts.argv("mini2", "true")[-1]


def test_problems_name_every_host_and_nothing_runs(tmp_path: Path, halab) -> None:
    path = _with_connection(
        tmp_path, "{user: op, become_password: {env: HALAB_UNSET_PW}, vars: {ansible_become: true}}"
    )
    code, _, err = halab("status", path)
    assert code == 2 and "no host was touched" in err, err
    for node in ("mini1", "mini2"):
        assert f"{node}.ansible_become_password: secret nodes[" in err
    assert "the environment variable HALAB_UNSET_PW is not set" in err and "Traceback" not in err
    assert not (tmp_path / "state" / "ssh").exists()  # no ssh was started


def test_an_edited_inventory_connects_as_it_says(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("SUDO_PW", "from-the-environment")
    path = _with_connection(tmp_path, "{become_password: {env: SUDO_PW}}")
    inventory = tmp_path / "inventory"
    _generate(inventory, path)
    local = {"ansible_user": "op", "ansible_become": True, "ansible_ssh_common_args": "-J jumper@192.0.2.1"}
    for node in ("mini1", "mini2"):  # host_vars: they win over halab's own host_vars/NODE/halab.yml
        (inventory / "host_vars" / node / "local.yml").write_text(yaml.safe_dump(local))
    hosts = Hosts(load_cluster(path).with_inventory(inventory))
    argv = hosts.argv("mini1", "true")
    assert argv[argv.index("-l") + 1] == "op" and argv[argv.index("-J") + 1] == "jumper@192.0.2.1"
    assert hosts.targets["mini1"].stdin() == "from-the-environment\n"  # the file's secret, through the lookup
    assert not [f for f in inventory.rglob("*") if f.is_file() and b"from-the-environment" in f.read_bytes()]


def test_an_inventory_template_is_refused_not_evaluated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    inventory = tmp_path / "inventory"
    _generate(inventory)
    canary = tmp_path / "canary"
    (inventory / "host_vars" / "mini2" / "local.yml").write_text(
        f"ansible_become_password: \"{{{{ lookup('pipe', 'touch {canary}') }}}}\"\nansible_become: true\n"
    )
    with pytest.raises(InvalidInput) as refused:
        Hosts(load_cluster(MINIMAL).with_inventory(inventory))
    assert "mini2.ansible_become_password" in str(refused.value) and "is a template" in str(refused.value)
    assert not canary.exists()


def test_run_feeds_the_password_and_nothing_else(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hosts.run gives sudo the password on stdin; a target without one gets /dev/null."""
    hosts = _hosts(here=target_of({"ansible_connection": "local"}))
    assert hosts.run("here", "cat; echo done").stdout == "done\n"  # stdin is empty, not the terminal
    seen: dict[str, Any] = {}
    monkeypatch.setattr("subprocess.run", lambda argv, **kw: seen.update(kw, argv=argv) or _done())
    hosts = _hosts(op=target_of(OPERATOR | {"ansible_become_password": PASSWORD}))
    hosts.run("op", "true")
    assert seen["input"] == PASSWORD + "\n" and "stdin" not in seen and PASSWORD not in " ".join(seen["argv"])


def _done(rc: int = 0, stderr: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.CompletedProcess([], rc, "", stderr)


def _hosts(**found: Target) -> Hosts:
    """Hosts over the given Targets, without a cluster."""
    hosts = Hosts.__new__(Hosts)
    hosts.targets = found
    return hosts


@pytest.mark.parametrize(
    "stderr", ["Sorry, try again.\nsudo: 1 incorrect password attempt\n", "sudo: a password is required\n"]
)
def test_a_sudo_refusal_is_said_as_such(monkeypatch: pytest.MonkeyPatch, stderr: str) -> None:
    """Not "the command failed": the operator learns that sudo refused, and why."""
    hosts = _hosts(op=target_of(OPERATOR), root=target_of(HOST))
    monkeypatch.setattr("subprocess.run", lambda argv, **kw: _done(1, stderr))
    with pytest.raises(OperationFailed, match=f"sudo on op refused halab's command: {stderr.splitlines()[-1]}"):
        hosts.run("op", "crm_mon -1")
    assert hosts.run("root", "crm_mon -1").rc == 1  # without become it is the command's own failure
