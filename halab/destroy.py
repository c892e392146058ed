"""`halab destroy`: take the cluster down cleanly and remove halab's configuration from its
nodes (playbooks/destroy.yml, role cluster_destroy; packages stay unless --purge).

Nothing is touched before the operator typed the cluster's name (or passed --yes) and,
unless --force-data-loss, before every DRBD node said that none of its resources is
Primary: both refusals exit 2. The role checks both again, for plain ansible-playbook.
"""

from __future__ import annotations

import sys

import click

from .errors import InvalidInput, OperationFailed, Problem
from .model import Cluster
from .progress import RunProgress
from .readings import DRBD_STATUS, parse_drbd_status
from .remote import Hosts
from .runner import PlaybookOptions, inventory_of, prepare, run_playbook
from .secrets import env_names
from .status import drbd_nodes_of

CONFIRM_VARIABLE = "cluster_destroy_confirm"  # the role's switches
PURGE_VARIABLE = "cluster_destroy_purge"
FORCE_VARIABLE = "cluster_destroy_force_data_loss"


def _refused(argument: str, message: str, hint: str) -> InvalidInput:
    return InvalidInput([Problem(argument, message, hint)], title="not destroying (nothing was touched)")


def confirm(cluster: Cluster, yes: bool) -> None:
    """The cluster's name typed on stdin (a line; end of input is no answer); Ctrl-C stays
    an interrupt (exit 130)."""
    if yes:
        return
    nodes = ", ".join(n.name for n in cluster.nodes)
    click.echo(f"This stops cluster {cluster.name} on {nodes} and removes halab's configuration from them.\n"
               f"Type the cluster's name to go on: ", nl=False, err=True)  # fmt: skip
    typed = sys.stdin.readline().strip()
    if typed != cluster.name:
        said = f"{typed!r} is not the cluster's name" if typed else "no confirmation given"
        raise _refused("confirmation", said, f"type {cluster.name}, or pass --yes in scripts")


def drbd_primaries(cluster: Cluster, hosts: Hosts) -> list[str]:
    """'RESOURCE on NODE' for every DRBD resource that is Primary, and every DRBD node that
    did not say (it may be)."""
    nodes = drbd_nodes_of(inventory_of(cluster).group_vars.get("all", {}))
    found = []
    for (node, _), result in hosts.run_all([(node, DRBD_STATUS) for node in nodes]).items():
        if result.rc != 0:
            found.append(f"DRBD on {node} did not answer")
            continue
        found += [f"{name} is Primary on {node}" for name, res in parse_drbd_status(result.stdout).items()
                  if res.role == "Primary"]  # fmt: skip
    return found


def destroy(cluster: Cluster, source: str, yes: bool, purge: bool, force_data_loss: bool) -> None:
    """Confirm, check DRBD, then run destroy.yml on every node; raise OperationFailed naming
    where it stopped."""
    confirm(cluster, yes)
    if not force_data_loss:
        primaries = drbd_primaries(cluster, Hosts(cluster))
        if primaries:
            raise _refused("--force-data-loss", "; ".join(primaries),
                           "the replicated data goes out of service: pass --force-data-loss to go on")  # fmt: skip
    run_dir = prepare(cluster, source, "destroy", needs_secrets=False)
    extra = {CONFIRM_VARIABLE: cluster.name, PURGE_VARIABLE: purge, FORCE_VARIABLE: force_data_loss}
    hosts = [node.name for node in cluster.nodes]
    with RunProgress(hosts) as progress:
        runner = run_playbook(run_dir, "destroy.yml", forks=len(hosts), options=PlaybookOptions(extra_vars=extra),
                              event_handler=progress.handle, secret_env=env_names(cluster))  # fmt: skip
    progress.summary()
    click.echo(f"log: {run_dir.path / 'artifacts' / 'ansible' / 'stdout'}", err=True)
    where = progress.failed_at(runner.status)
    if where:
        raise OperationFailed(f"destroy failed after {progress.elapsed():.0f}s at {where}")
    kept = "" if purge else "; the packages stay (--purge removes them)"
    click.echo(f"cluster {cluster.name} destroyed in {progress.elapsed():.0f}s: stopped, halab's configuration "
               f"removed{kept}; `halab deploy {source}` builds it again")  # fmt: skip
