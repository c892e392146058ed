"""`--ssh-config`: node connections from `vagrant ssh-config` output (or any ssh config).

What is read (a real Vagrant sample for two machines), what reaches the inventory (read
back by ansible-inventory), what is refused (each with its line, exit 2, nothing written),
and that no value of the file reaches an ssh command line as an option.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path

import pytest

from halab import sshconfig
from halab.errors import InvalidInput
from halab.validation import load_cluster

from .conftest import ROOT

EXAMPLE = ROOT / "examples" / "web-ap-nodrbd.yml"  # nodes web1 and web2
VAGRANT = ROOT / "tests" / "data" / "vagrant-ssh-config"
VAGRANT_OPTIONS = (
    "-o UserKnownHostsFile=/dev/null -o StrictHostKeyChecking=no -o PasswordAuthentication=no{extra}"
    " -o IdentitiesOnly=yes -o PubkeyAcceptedKeyTypes=+ssh-rsa -o HostKeyAlgorithms=+ssh-rsa"
)
WEB2_KEY = "/home/alice/my boxes/webnd/.vagrant/machines/web2/virtualbox/private_key"


@pytest.fixture(autouse=True)
def no_lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A private state dir: no running lab adds its connections."""
    monkeypatch.setenv("HALAB_STATE_DIR", str(tmp_path / "state"))


def write(tmp_path: Path, text: str, name: str = "ssh-config") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def ansible_inventory(directory: Path) -> dict:
    out = subprocess.run(["ansible-inventory", "-i", str(directory), "--list"], check=False,
                         capture_output=True, text=True, env=os.environ | {"ANSIBLE_NOCOLOR": "1"})  # fmt: skip
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_vagrant_output_gives_each_node_its_connection() -> None:
    connections = sshconfig.load(VAGRANT, load_cluster(EXAMPLE))
    assert connections == {
        "web1": {
            "ansible_host": "192.168.121.57",
            "ansible_user": "vagrant",
            "ansible_port": 22,
            "ansible_ssh_private_key_file": "/home/alice/webnd/.vagrant/machines/web1/libvirt/private_key",
            "ansible_ssh_common_args": VAGRANT_OPTIONS.format(extra=""),
        },
        "web2": {
            "ansible_host": "127.0.0.1",
            "ansible_user": "vagrant",
            "ansible_port": 2200,
            "ansible_ssh_private_key_file": WEB2_KEY,  # Vagrant's quotes removed; the second key follows as -o
            "ansible_ssh_common_args": VAGRANT_OPTIONS.format(
                extra=" -o IdentityFile=/home/alice/.vagrant.d/insecure_private_keys/vagrant.key.ed25519"
            ),
        },
    }


def test_inventory_read_back_by_ansible(halab, tmp_path: Path) -> None:
    out = tmp_path / "inv"
    code, stdout, err = halab("inventory", EXAMPLE, "--ssh-config", VAGRANT, "-o", out)
    assert code == 0, stdout + err
    hostvars = ansible_inventory(out)["_meta"]["hostvars"]
    seen = {
        name: tuple(hostvars[name][v] for v in ("ansible_host", "ansible_port", "ansible_user",
                                                "ansible_ssh_private_key_file"))
        for name in ("web1", "web2")
    }  # fmt: skip
    assert seen == {
        "web1": ("192.168.121.57", 22, "vagrant", "/home/alice/webnd/.vagrant/machines/web1/libvirt/private_key"),
        "web2": ("127.0.0.1", 2200, "vagrant", WEB2_KEY),
    }
    assert hostvars["web1"]["halab_addresses"]["lan"] == "198.18.50.11"  # the cluster's addresses stay
    for path in (out / "host_vars").rglob("halab.yml"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_keys_any_case_equals_comments_and_first_value_wins(tmp_path: Path) -> None:
    config = write(tmp_path, (
        "# written by hand\n"
        "Host web1 web2\n"
        "\thostname=10.0.0.5\n"
        "  PORT = 2222   # a trailing comment\n"
        "  user admin\r\n"
        "Host web2\n"
        "  HostName 10.0.0.6\n"  # web2 took 10.0.0.5 from the first block: ssh's first value wins
        "  IdentityFile ~/.ssh/web2\n"
        "Host other\n"
        "  HostName 10.9.9.9\n"  # a block no node takes is ignored
    ))  # fmt: skip
    connections = sshconfig.load(config, load_cluster(EXAMPLE))
    assert connections["web1"] == {"ansible_host": "10.0.0.5", "ansible_port": 2222, "ansible_user": "admin"}
    assert connections["web2"] == {"ansible_host": "10.0.0.5", "ansible_port": 2222, "ansible_user": "admin",
                                   "ansible_ssh_private_key_file": "~/.ssh/web2"}  # fmt: skip


def test_ssh_config_wins_over_the_files_connection_field_by_field(halab, tmp_path: Path) -> None:
    text = EXAMPLE.read_text().replace(
        "addresses: {lan: 198.18.50.11, hb: 198.18.51.11}",
        "addresses: {lan: 198.18.50.11, hb: 198.18.51.11}\n"
        "    connection: {host: web1.example.net, user: deploy, port: 2022, vars: {ansible_become: true}}",
    )
    cluster_file = write(tmp_path, text, "cluster.yml")
    config = write(tmp_path, "Host web1\n  Port 2200\nHost web2\n  User vagrant\n")
    code, out, err = halab("inventory", cluster_file, "--ssh-config", config, "-o", tmp_path / "inv")
    assert code == 0, out + err
    hostvars = ansible_inventory(tmp_path / "inv")["_meta"]["hostvars"]
    web1, web2 = hostvars["web1"], hostvars["web2"]
    assert (web1["ansible_host"], web1["ansible_user"], web1["ansible_port"]) == ("web1.example.net", "deploy", 2200)
    assert web1["ansible_become"] is True
    assert (web2["ansible_host"], web2["ansible_user"], web2["ansible_port"]) == ("198.18.50.12", "vagrant", 22)


REFUSED = [
    ("Include ~/.ssh/more", "Include is refused: it reads other files"),
    ("Match exec true", "Match is refused"),
    ("ProxyCommand nc %h %p", "ProxyCommand is refused: it runs a command"),
    ("LocalCommand touch /tmp/x", "LocalCommand is refused: it runs a command"),
    ("PermitLocalCommand yes", "PermitLocalCommand is refused"),
    ("KnownHostsCommand /bin/true", "KnownHostsCommand is refused"),
    ("HostName -oProxyCommand=touch", "starts with '-'"),
    ("User -oProxyCommand=touch", "starts with '-'"),
    ('IdentityFile "-oProxyCommand=x"', "starts with '-'"),
    ("Host -oProxyCommand=x", "starts with '-'"),
    ("HostName 10.0.0.5\x00evil", "control character"),
    ("HostName 10.0.0.5\revil", "control character"),
    ("HostName %h.example.net", "neither an IPv4 address nor a host name"),
    ("HostName bad_host!", "neither an IPv4 address nor a host name"),
    ("HostName 10.0.0.999", "not a valid IPv4 address"),
    ("Port 0", "not a port"),
    ("Port 65536", "not a port"),
    ("Port 22x", "not a port"),
    ("User Root", "not a user name"),
    ("IdentityFile .vagrant/key", "not an absolute path"),
    ('IdentityFile "/home/a/unterminated', "double quote inside a value"),
    ("IdentityFile /a /b", "takes one value"),
    ("Port", "has no value"),
    ("StrictHostKeyChecking maybe", "not one of"),
    ("ProxyJump jump.example.net:99999", "not a port"),
    ("HostKeyAlgorithms ssh-rsa;touch", "not a list of algorithms"),
    ("SendEnv HALAB_*", "not a key halab reads"),
    ("= value", "not a `Key value` line"),
]


@pytest.mark.parametrize(("line", "expected"), REFUSED, ids=[r[0][:24] for r in REFUSED])
def test_refused_lines_name_their_line_and_write_nothing(halab, tmp_path: Path, line: str, expected: str) -> None:
    config = write(tmp_path, f"Host web1 web2\n  HostName 10.0.0.5\n  {line}\n")
    out = tmp_path / "inv"
    code, stdout, err = halab("inventory", EXAMPLE, "--ssh-config", config, "-o", out)
    assert code == 2, stdout + err
    assert "error: invalid ssh-config file (1 problem)" in err
    assert f"{config}:3: " in err and expected in err, err
    assert "hint: " in err and "Traceback" not in err
    assert not out.exists()


def test_every_refusal_is_reported_at_once(tmp_path: Path) -> None:
    text = "Include /etc/ssh/ssh_config\nHost web1\n  Port 0\n  ProxyCommand sh\n"
    with pytest.raises(InvalidInput) as caught:
        sshconfig.parse(text, "cfg")
    assert [(p.line, p.path) for p in caught.value.problems] == [(1, "Include"), (3, "Port"), (4, "ProxyCommand")]


def test_nodes_without_their_own_block_are_named(halab, tmp_path: Path) -> None:
    config = write(tmp_path, "Host *\n  User vagrant\nHost web*\n  Port 2222\nHost web1\n  HostName 10.0.0.5\n")
    code, out, err = halab("inventory", EXAMPLE, "--ssh-config", config, "-o", tmp_path / "inv")
    assert code == 2, out + err
    assert "no `Host web2` block for node web2" in err and "node web1" not in err
    assert "vagrant ssh-config > FILE" in err
    config = write(tmp_path, "Host web1 web*\n  Port 2201\nHost web2 !web1\n  Port 2202\n")
    code, _, err = halab("inventory", EXAMPLE, "--ssh-config", config, "-o", tmp_path / "inv")
    assert code == 2 and "node web2" in err and "node web1" not in err  # web1 is named, web2 only negated
    config = write(tmp_path, "User vagrant\n")  # settings before any Host name no node either
    code, _, err = halab("inventory", EXAMPLE, "--ssh-config", config, "-o", tmp_path / "inv")
    assert code == 2 and "web1" in err and "web2" in err


def test_the_file_is_bounded(halab, tmp_path: Path) -> None:
    big = write(tmp_path, "Host web1 web2\n" + "# padding\n" * 30_000)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for path, expected in ((big, "at most 262144 are read"), (fifo, "not a regular file"),
                           (tmp_path, "is a directory"), (tmp_path / "none", "cannot read the file")):  # fmt: skip
        code, out, err = halab("inventory", EXAMPLE, "--ssh-config", path, "-o", tmp_path / "inv")
        assert code == 2 and expected in err and "ssh-config" in err, (path, out + err)
    write(tmp_path, "Host web1\n", "latin1").write_bytes(b"Host web1\n  User caf\xe9\n")
    code, _, err = halab("inventory", EXAMPLE, "--ssh-config", tmp_path / "latin1", "-o", tmp_path / "inv")
    assert code == 2 and "not UTF-8" in err


VERBS = {"deploy": [], "verify": [], "status": [], "move": ["web"], "cleanup": [], "standby": ["web1"], "drill": []}


@pytest.mark.parametrize("verb", VERBS)
def test_every_verb_reaching_the_hosts_takes_the_option(halab, tmp_path: Path, verb: str) -> None:
    """A refused ssh-config stops each verb before any host is touched: the option is read."""
    config = write(tmp_path, "Host web1 web2\n  ProxyCommand sh -c 'touch /tmp/pwned'\n")
    code, out, err = halab(verb, EXAMPLE, *VERBS[verb], "--ssh-config", config)
    assert code == 2 and f"{config}:2: ProxyCommand" in err, out + err


def test_template_syntax_in_a_path_stays_data(halab, tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    key = f"/keys/{{{{ lookup('pipe', 'touch {canary}') }}}}/id"
    config = write(tmp_path, f'Host web1 web2\n  IdentityFile "{key}"\n  UserKnownHostsFile "{key}"\n')
    code, out, err = halab("inventory", EXAMPLE, "--ssh-config", config, "-o", tmp_path / "inv")
    assert code == 0, out + err
    assert "!unsafe" in (tmp_path / "inv" / "host_vars" / "web1" / "halab.yml").read_text()
    listed = ansible_inventory(tmp_path / "inv")["_meta"]["hostvars"]["web1"]
    assert listed["ansible_ssh_private_key_file"] == {"__ansible_unsafe": key}
    assert not canary.exists()


def test_no_value_reaches_ssh_as_an_option(tmp_path: Path) -> None:
    """halab's own ssh command line (status, move, drills): the values sit where ssh reads
    a value, the host after `--`, every `-o` one of the carried keys."""
    from halab.remote import Hosts

    config = write(tmp_path, (
        "Host web1 web2\n  HostName 127.0.0.1\n  User vagrant\n  Port 2200\n"
        '  IdentityFile "/home/a b/k -o ProxyCommand=x"\n  IdentityFile "/home/a b/second key"\n'
        "  StrictHostKeyChecking no\n  ProxyJump jumper@jump.example.net:2022\n"
    ))  # fmt: skip
    cluster = load_cluster(EXAMPLE)
    given = {node: found | {"ansible_become": True} for node, found in sshconfig.load(config, cluster).items()}
    argv = Hosts(cluster.with_connections(given)).argv("web2", "true")
    host_at = argv.index("--") + 1
    assert argv[host_at:] == ["127.0.0.1", "sudo -H -n -u root -- sh -c true"]
    assert argv[argv.index("-i") + 1] == "/home/a b/k -o ProxyCommand=x"
    assert argv[argv.index("-l") + 1] == "vagrant" and argv[argv.index("-p") + 1] == "2200"
    flags = [(arg, argv[i + 1]) for i, arg in enumerate(argv[:host_at - 1]) if arg.startswith("-")]
    assert {flag for flag, _ in flags} <= {"-o", "-p", "-i", "-l"}
    carried = {"BatchMode", "LogLevel", "ConnectTimeout", "IdentityFile", "StrictHostKeyChecking", "ProxyJump",
               "ControlMaster", "ControlPath", "ControlPersist"}  # fmt: skip
    assert {value.split("=", 1)[0] for flag, value in flags if flag == "-o"} <= carried
    assert ("-o", 'IdentityFile="/home/a b/second key"') in flags
