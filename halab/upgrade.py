"""`halab upgrade`: a rolling upgrade of the cluster, one member at a time.

Pacemaker's documented rolling upgrade (Pacemaker Administration, "Upgrading"): for each
member in turn - standby, stop Pacemaker and corosync, upgrade (the HA stack, or the
whole node to a new Debian release), reboot if the new kernel wants it, start, rejoin,
out of standby. Pacemaker supports a mixed 2.x/3.x cluster during such a window (3.0
dropped rolling upgrades only from versions before 2.0.0).

halab refuses to start on a degraded cluster, upgrades the members that run the fewest
resources first, checks the cluster's health after each member, and stops at the first
member that does not come back healthy, leaving the others untouched. A first Ctrl-C lets
the member in hand finish (its playbook brings it back whatever happens) and stops before
the next one; a second Ctrl-C interrupts that member, brings it back (cluster stack
started, standby off) and says where it stopped.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager

import click

from .errors import InvalidInput, OperationFailed, Problem
from .model import Cluster
from .operate import ClusterState, cluster_state, pacemaker_problems
from .progress import RunProgress
from .remote import Hosts
from .runner import PlaybookOptions, prepare, run_playbook
from .secrets import env_names

SETTLE_TIMEOUT = 120.0
SETTLE_POLL = 3.0


def _health_problems(cluster: Cluster, state: ClusterState) -> list[str]:
    """An upgrade also needs every member out of standby (it puts them in standby itself)."""
    return pacemaker_problems(cluster, state, standby_counts=True)


def _settled_problems(cluster: Cluster, hosts: Hosts, timeout: float = SETTLE_TIMEOUT) -> list[str]:
    """The cluster's health problems once it has settled, or those still there at the timeout.

    A member that just rejoined is healthy on its own side before every peer has seen the new
    membership and the DC has run the transition that brings the resources back; one
    snapshot then reports a passing state as a fault (web2 "not quorate" right after web1
    rejoined, in the Debian 12 -> 13 lab run)."""
    deadline = time.monotonic() + timeout
    while True:
        problems = _health_problems(cluster, cluster_state(cluster, hosts))
        if not problems or time.monotonic() >= deadline:
            return problems
        time.sleep(SETTLE_POLL)


def _order(cluster: Cluster, state: ClusterState) -> list[str]:
    """Members running the fewest resources first (the services move the fewest times)."""
    load = {n.name: 0 for n in cluster.members}
    for nodes in state.resources.values():
        for node in nodes:
            if node in load:
                load[node] += 1
    return sorted(load, key=lambda name: load[name])


def _run(cluster: Cluster, source: str, node: str, release: str | None, tags: str | None = None) -> bool:
    run_dir = prepare(cluster, source, f"upgrade-{node}", check_hosts=False)
    options = PlaybookOptions(limit=node, tags=tags, extra_vars={"cluster_upgrade_release": release})
    with RunProgress([node]) as progress:
        runner = run_playbook(run_dir, "upgrade.yml", forks=1, options=options, event_handler=progress.handle,
                              secret_env=env_names(cluster))  # fmt: skip
    progress.summary()
    return runner.status == "successful" and not progress.failures


@contextmanager
def _finish_on_first_interrupt() -> Iterator[list[bool]]:
    """The first SIGINT only asks to stop after the member in hand (the yielded flag); the
    second one raises KeyboardInterrupt as usual."""
    asked: list[bool] = [False]

    def first(signum: int, frame: object) -> None:
        asked[0] = True
        click.echo("\ninterrupt: finishing the member in hand, then stopping (Ctrl-C again to stop now)", err=True)
        signal.signal(signal.SIGINT, signal.default_int_handler)

    previous = signal.signal(signal.SIGINT, first)
    try:
        yield asked
    finally:
        signal.signal(signal.SIGINT, previous)


def upgrade(cluster: Cluster, source: str, release: str | None) -> None:
    """Upgrade every member in turn; raise OperationFailed naming where it stopped."""
    hosts = Hosts(cluster)
    state = cluster_state(cluster, hosts)
    problems = _health_problems(cluster, state)
    if problems:
        raise InvalidInput([Problem("cluster", p, "fix the cluster first (halab status)") for p in problems],
                           source, title="refusing to upgrade a degraded cluster (nothing was touched)")  # fmt: skip
    prepare(cluster, source, "upgrade", vault_password_file=None)  # secrets and SSH, before any change
    order = _order(cluster, state)
    click.echo(f"upgrading {', '.join(order)} one at a time" + (f" to Debian {release}" if release else ""))
    started = time.monotonic()
    with _finish_on_first_interrupt() as stop_asked:
        for index, node in enumerate(order):
            node_started = time.monotonic()
            try:
                ok = _run(cluster, source, node, release)
            except KeyboardInterrupt:
                click.echo(f"interrupted during {node}: bringing it back (stack started, standby off)...", err=True)
                _run(cluster, source, node, None, tags="resume")
                click.echo(f"stopped at {node}; not touched: {', '.join(order[index + 1:]) or 'none'}", err=True)
                raise
            problems = _settled_problems(cluster, hosts) if ok else []
            if not ok or problems:
                raise OperationFailed(f"stopped at {node} ({'; '.join(problems) or 'the upgrade failed'}); "
                                      f"upgraded before it: {', '.join(order[:index]) or 'none'}; not touched: "
                                      f"{', '.join(order[index + 1:]) or 'none'}")  # fmt: skip
            click.echo(f"{node} upgraded and back in {time.monotonic() - node_started:.0f}s; cluster healthy")
            if stop_asked[0] and index + 1 < len(order):
                click.echo(f"stopped after {node} as asked; not touched: {', '.join(order[index + 1:])}", err=True)
                raise KeyboardInterrupt
    click.echo(f"upgrade done in {time.monotonic() - started:.0f}s")
