"""`halab deploy`: preflight on this machine, then site.yml through ansible-runner."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import click

from .errors import OperationFailed
from .model import Cluster
from .progress import RunProgress
from .runner import PlaybookOptions, prepare, run_playbook
from .secrets import env_names

RESET_VARIABLE = "pacemaker_reset_operator_state"  # the pacemaker role's switch


@dataclass
class OperatorState:
    """What the CIB apply (halab_cib) kept of the operator's moves, bans, standby and
    maintenance, or removed: a deploy must say so, since it no longer silently undoes them."""

    kept: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    def watching(self, handler: Callable[[dict[str, Any]], bool]) -> Callable[[dict[str, Any]], bool]:
        """`handler`, also collecting halab_cib's report from the task results."""

        def handle(event: dict[str, Any]) -> bool:
            if event.get("event") == "runner_on_ok":  # halab_cib's comparison, then its apply: once each
                res = event.get("event_data", {}).get("res", {})
                self.kept += [line for line in res.get("kept_operator_state") or [] if line not in self.kept]
                self.removed += [line for line in res.get("removed_operator_state") or [] if line not in self.removed]
            return handler(event)

        return handle

    def report(self) -> None:
        for line in self.kept:
            click.echo(f"kept operator state: {line}")
        for line in self.removed:
            click.echo(f"removed operator state: {line}")
        if self.kept:
            click.echo("(halab deploy --reset-operator-state removes the kept operator state)")


def deploy(cluster: Cluster, source: str, options: PlaybookOptions) -> None:
    """Converge the cluster; raise OperationFailed naming the failing host/task."""
    run_dir = prepare(
        cluster, source, "check" if options.check else "deploy", vault_password_file=options.vault_password_file
    )
    hosts = [node.name for node in cluster.nodes]
    operator = OperatorState()
    with RunProgress(hosts) as progress:
        runner = run_playbook(
            run_dir,
            "site.yml",
            forks=len(hosts),
            options=options,
            event_handler=operator.watching(progress.handle),
            secret_env=env_names(cluster),
        )
    progress.summary()
    log = run_dir.path / "artifacts" / "ansible" / "stdout"
    total_changed = sum(state.changed for state in progress.states.values())
    click.echo(f"log: {log}", err=True)
    where = progress.failed_at(runner.status)
    if where:
        raise OperationFailed(f"deploy failed after {progress.elapsed():.0f}s at {where}")
    operator.report()
    verb = "would change" if options.check else "changed"
    if total_changed:
        click.echo(f"{verb} {total_changed} task(s) in {progress.elapsed():.0f}s")
    else:
        click.echo(f"no changes ({progress.elapsed():.0f}s): the cluster already matches {source}")
