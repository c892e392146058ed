"""Connection data: what the inventory writes for each node's connection."""

from __future__ import annotations

from pathlib import Path

from halab.connection import node_connections
from halab.inventory import build_inventory
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
