"""How Ansible and halab's own SSH commands reach each node.

A node's connection variables come from the file's `nodes[].connection` (its secrets as
lookups, never values), then a running lab's, then those given beside the file
(`--ssh-config`), which win variable by variable. The inventory writes them as host_vars,
where Ansible and the day-2 verbs (`halab.remote`) read them.
"""

from __future__ import annotations

from typing import Any

from .model import Cluster
from .secrets import CONNECTION_SECRETS, connection_secret, secret_ref


def lab_connections(cluster: Cluster) -> dict[str, dict[str, Any]]:
    """SSH connection variables of the halab lab running this cluster, if one is up."""
    from .lab import inventory_overrides

    return inventory_overrides(cluster.name) or {}


def node_connections(cluster: Cluster) -> dict[str, dict[str, Any]]:
    """Connection variables per node that override the file's `nodes[].connection`: a
    running lab's, then those given beside the file (`--ssh-config`)."""
    lab, given = lab_connections(cluster), cluster.given_connections
    return {name: lab.get(name, {}) | given.get(name, {}) for name in lab.keys() | given.keys()}


# Connections that reach a node over SSH. Others (community.docker.docker: ansible_host
# is a container name) have no SSH port: none is written or checked for them.
SSH_CONNECTIONS = frozenset({"ssh", "ansible.builtin.ssh", "paramiko", "paramiko_ssh", "ansible.builtin.paramiko_ssh",
                             "smart"})  # fmt: skip


def over_ssh(hostvars: dict[str, Any]) -> bool:
    return str(hostvars.get("ansible_connection", "ssh")) in SSH_CONNECTIONS


def host_connection(cluster: Cluster, index: int, overrides: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The Ansible connection variables of node `index`: its file's, then `overrides`."""
    node = cluster.nodes[index]
    conn = node.connection
    host: dict[str, Any] = {
        "ansible_host": conn.host or str(cluster.primary_address(node)),
        "ansible_user": conn.user,
        **({"ansible_port": conn.port} if over_ssh(conn.vars) else {}),
        **conn.vars,
    }
    for field, variable in CONNECTION_SECRETS.items():
        if getattr(conn, field) is not None:
            host[variable] = secret_ref(connection_secret(index, field))
    return host | overrides.get(node.name, {})
