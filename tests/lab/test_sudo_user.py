"""Deploy and day-2 verbs as a connection user that is not root (tests/lab/sudo-user.yml).

On two lab containers the test creates user `halabop` with the lab's key and sudo that
asks for a password (Debian's `%sudo ALL=(ALL:ALL) ALL`), then forbids root logins in
sshd. The operator's inventory (`halab inventory -o DIR` plus a `local.yml` per node)
connects as that user; become and its password come from the cluster file (the password
from the environment). Through it: deploy, status, move, standby and their undoing; the
generated connections (`--ssh-config`) reach the nodes the same way; each node's commands
run there (reused connections included) as root; a wrong password
fails, saying that sudo refused it, without being shown; no file of any run holds the password.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from halab.lab import state
from halab.paths import module_util
from halab.remote import Hosts
from halab.validation import load_cluster

from .helpers import halab, ok, on, page, timed, wait_for_page

pytestmark = pytest.mark.lab

CLUSTER = str(Path(__file__).parent / "sudo-user.yml")
LAB, NODES, USER = "sudo2", ("su1", "su2"), "halabop"
VIP_URL = "http://198.19.60.100/"
PASSWORD = "Sud0-pass word"  # a blank: it must reach sudo as one line, untouched
WRONG = "not-the-sudo-password"


def _add_sudo_user(public_key: str) -> None:
    """`halabop` with the lab's key and password-protected sudo; root can no longer log in (sshd
    takes the first value: the lab's own halab-lab.conf comes after 00-*)."""
    hashed = module_util("sha512_crypt").sha512_crypt(PASSWORD, "halabtestsalt")
    script = (
        # pam_nologin keeps users other than root out until the node has booted
        "timeout 120 sh -c 'while [ -e /run/nologin ]; do sleep 0.5; done'"
        " && apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q sudo >/dev/null"
        f" && useradd -m -s /bin/bash -G sudo -p '{hashed}' {USER}"
        f" && install -d -m 700 -o {USER} -g {USER} /home/{USER}/.ssh"
        f" && printf '%s\\n' '{public_key}' > /home/{USER}/.ssh/authorized_keys"
        f" && chown {USER}: /home/{USER}/.ssh/authorized_keys"
        " && echo 'PermitRootLogin no' > /etc/ssh/sshd_config.d/00-halab-test.conf && systemctl reload ssh"
    )
    for node in NODES:
        done = on(LAB, node, script, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr


def _root_login_refused(st: state.LabState, node: str) -> bool:
    """A fresh root login (the lab's own master connection aside) is refused by sshd."""
    argv = ["ssh", "-i", str(st.key), "-o", f"UserKnownHostsFile={st.known_hosts}", "-o", "BatchMode=yes",
            "-o", "ControlPath=none", "-l", "root", "--", str(st.spec.node(node).addresses["lan"]), "true"]  # fmt: skip
    return subprocess.run(argv, capture_output=True, timeout=30, check=False).returncode == 255


def _operator_inventory(directory: Path) -> Path:
    ok("inventory", CLUSTER, "-o", str(directory))
    for node in NODES:
        (directory / "host_vars" / node / "local.yml").write_text(f"ansible_user: {USER}\n")
    return directory


def _ssh_config(path: Path) -> Path:
    st = state.load(LAB)
    assert st is not None
    blocks = [
        f"Host {node}\n  HostName {st.spec.node(node).addresses['lan']}\n  User {USER}\n"
        f"  IdentityFile {st.key}\n  UserKnownHostsFile {st.known_hosts}\n  StrictHostKeyChecking yes\n"
        for node in NODES
    ]
    path.write_text("\n".join(blocks))
    return path


def _serving() -> str:
    body = page(VIP_URL) or ""
    return next((node for node in NODES if f"node {node} " in body), "")


def _close_masters(control_dir: Path) -> None:
    """halab's ssh master connections of this test end with it, not 60 s later."""
    for socket in control_dir.glob("*") if control_dir.is_dir() else []:
        subprocess.run(["ssh", "-O", "exit", "-o", f"ControlPath={socket}", "x"], capture_output=True, check=False)


def _files_holding(root: Path, secret: str) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]


def test_day2_verbs_as_a_sudo_user(lab_state: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HALAB_TEST_SUDO_PASSWORD", PASSWORD)
    try:
        ok("lab", "up", CLUSTER)
        st = state.load(LAB)
        assert st is not None
        _add_sudo_user(Path(f"{st.key}.pub").read_text().strip())
        assert all(_root_login_refused(st, node) for node in NODES)  # what follows logs in as USER only
        inventory = str(_operator_inventory(tmp_path / "inventory"))
        timed("deploy as a sudo user", lambda: ok("deploy", CLUSTER, "--inventory", inventory))
        wait_for_page(VIP_URL, "Served by node", 60)
        outputs = [timed("status as a sudo user", lambda: ok("status", CLUSTER, "--inventory", inventory))]
        hosts = Hosts(load_cluster(Path(CLUSTER)).with_inventory(Path(inventory)))
        for _ in range(2):  # the second round through the master connections: each to its own node
            assert {node: hosts.run(node, "hostname; id -un").stdout.split() for node in NODES} == {
                node: [node, "root"] for node in NODES
            }
        first = _serving()
        other = next(node for node in NODES if node != first)

        outputs.append(ok("move", CLUSTER, "site", other, "--inventory", inventory))
        assert f"site runs on {other}" in outputs[-1], outputs[-1]
        wait_for_page(VIP_URL, f"node {other} ", 30)
        outputs.append(ok("standby", CLUSTER, other, "--inventory", inventory))
        wait_for_page(VIP_URL, f"node {first} ", 60)  # standby wins over the move
        outputs.append(ok("standby", CLUSTER, other, "--off", "--inventory", inventory))
        outputs.append(ok("move", CLUSTER, "site", "--clear", "--inventory", inventory))
        outputs.append(ok("status", CLUSTER, "--ssh-config", str(_ssh_config(tmp_path / "ssh-config"))))
        assert "healthy" in outputs[-1] and "NOT healthy" not in outputs[-1], outputs[-1]

        monkeypatch.setenv("HALAB_TEST_SUDO_PASSWORD", WRONG)
        wrong = halab("status", CLUSTER, "--inventory", inventory)
        assert wrong.returncode == 1 and "Traceback" not in wrong.stderr, wrong.stdout + wrong.stderr
        assert "sudo on su" in wrong.stderr and "incorrect password" in wrong.stderr, wrong.stderr
        outputs.append(wrong.stdout + wrong.stderr)

        assert not [text for text in outputs if PASSWORD in text or WRONG in text]
        assert _files_holding(lab_state, PASSWORD) == [] and _files_holding(tmp_path / "inventory", PASSWORD) == []
    finally:
        _close_masters(lab_state / "ssh")
