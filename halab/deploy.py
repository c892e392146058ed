"""`halab deploy`: preflight on this machine, then site.yml through ansible-runner."""

from __future__ import annotations

import click

from .errors import OperationFailed
from .model import Cluster
from .progress import RunProgress
from .runner import PlaybookOptions, prepare, run_playbook
from .secrets import env_names


def deploy(cluster: Cluster, source: str, options: PlaybookOptions) -> None:
    """Converge the cluster; raise OperationFailed naming the failing host/task."""
    run_dir = prepare(
        cluster, source, "check" if options.check else "deploy", vault_password_file=options.vault_password_file
    )
    hosts = [node.name for node in cluster.nodes]
    with RunProgress(hosts) as progress:
        runner = run_playbook(
            run_dir,
            "site.yml",
            forks=len(hosts),
            options=options,
            event_handler=progress.handle,
            secret_env=env_names(cluster),
        )
    progress.summary()
    log = run_dir.path / "artifacts" / "ansible" / "stdout"
    total_changed = sum(state.changed for state in progress.states.values())
    click.echo(f"log: {log}", err=True)
    if runner.status != "successful" or progress.failures:
        first = progress.failures[0] if progress.failures else None
        where = f"{first.host} / {first.task}: {first.message}" if first else f"ansible-runner: {runner.status}"
        raise OperationFailed(f"deploy failed after {progress.elapsed():.0f}s at {where}")
    verb = "would change" if options.check else "changed"
    if total_changed:
        click.echo(f"{verb} {total_changed} task(s) in {progress.elapsed():.0f}s")
    else:
        click.echo(f"no changes ({progress.elapsed():.0f}s): the cluster already matches {source}")
