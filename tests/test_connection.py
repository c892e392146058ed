"""Connection data: what the inventory writes for each node's connection."""

from __future__ import annotations

from pathlib import Path

from halab.connection import host_connection, node_connections
from halab.inventory import build_inventory
from halab.runner import check_reachable
from halab.validation import load_cluster

from .conftest import ROOT


def test_a_connection_secret_is_a_lookup_and_given_connections_win(tmp_path: Path) -> None:
    text = (ROOT / "examples" / "web-ap-nodrbd.yml").read_text()
    path = tmp_path / "c.yml"
    path.write_text(text.replace("  - name: web1\n", "  - name: web1\n    connection: {password: {env: SSH_PW}}\n", 1))
    cluster = load_cluster(path).with_connections({"web1": {"ansible_user": "vagrant"}})
    web1 = build_inventory(cluster, node_connections(cluster)).hostvars("web1")
    assert web1["ansible_password"] == "{{ lookup('halab.ha.secret', halab_secrets['nodes[0].connection.password']) }}"
    assert web1["ansible_user"] == "vagrant" and web1["ansible_host"] == "198.18.50.11"


def test_a_container_connection_has_no_ssh_port_to_write_or_check() -> None:
    """molecule/docker's nodes are reached with `docker exec`: testinfra would read an
    ansible_port as part of the container's name, and there is no SSH port to probe."""
    cluster = load_cluster(ROOT / "molecule" / "docker" / "cluster.yml")
    overrides = node_connections(cluster)
    hostvars = {node.name: host_connection(cluster, i, overrides) for i, node in enumerate(cluster.nodes)}
    assert hostvars["hd1"] == {"ansible_host": "hd1", "ansible_user": "root",
                               "ansible_connection": "community.docker.docker"}  # fmt: skip
    assert check_reachable(cluster, hostvars, timeout=0.1) == []
