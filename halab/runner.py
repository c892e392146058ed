"""Run halab's playbooks through ansible-runner against a cluster's hosts."""

from __future__ import annotations

from typing import Any

from .model import Cluster


def lab_connections(cluster: Cluster) -> dict[str, dict[str, Any]]:
    """SSH connection variables of the halab lab running this cluster, if one is up."""
    from .lab import inventory_overrides

    return inventory_overrides(cluster.name) or {}
