"""`halab` command line: a thin layer over model -> inventory -> render -> run -> verify.

Exit codes: 0 success, 1 operation failed on hosts, 2 invalid input, 130 interrupted.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from . import __version__
from .errors import EXIT_INTERRUPTED, EXIT_INVALID, HalabError, InvalidInput, OperationFailed, Problem
from .lab.cli import lab
from .model import Cluster, cluster_json_schema
from .validation import load_cluster

cluster_file = click.argument("cluster_file", type=click.Path(dir_okay=False, path_type=Path))
ssh_config = click.option(
    "--ssh-config",
    type=click.Path(dir_okay=False, path_type=Path),
    help="connect to each node as this ssh config's `Host NODE` block says (e.g. `vagrant ssh-config` output)",
)


inventory_dir = click.option(
    "--inventory",
    "inventory_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="use this inventory (from `halab inventory`, with your overrides and hosts) instead of generating one",
)


def cluster_source(command: Callable[..., Any]) -> Callable[..., Any]:
    """The cluster file and `--ssh-config`, in one place: the command gets `cluster` (loaded,
    with the ssh-config's connections) and `source`."""

    @cluster_file
    @ssh_config
    @functools.wraps(command)
    def wrapper(cluster_file: Path, ssh_config: Path | None, **kwargs: Any) -> Any:
        cluster = load_cluster(cluster_file)
        if ssh_config is not None:
            from . import sshconfig

            cluster.with_connections(sshconfig.load(ssh_config, cluster))
        return command(cluster=cluster, source=str(cluster_file), **kwargs)

    return wrapper


def cluster_target(command: Callable[..., Any]) -> Callable[..., Any]:
    """`cluster_source` plus `--inventory DIR`, for every verb that reaches the hosts: with
    it, the hosts' variables and connections come from that inventory (runner.inventory_of)."""

    @cluster_source
    @inventory_dir
    @functools.wraps(command)
    def wrapper(cluster: Cluster, source: str, inventory_dir: Path | None, **kwargs: Any) -> Any:
        if inventory_dir is not None:
            if cluster.given_connections:
                raise InvalidInput([Problem("--ssh-config", "is not taken with --inventory: the inventory holds the "
                                            "connections", f"regenerate it: halab inventory {source} --ssh-config "
                                            f"F -o {inventory_dir}")])  # fmt: skip
            cluster.with_inventory(inventory_dir)
        return command(cluster=cluster, source=source, **kwargs)

    return wrapper


def _summary(cluster: Cluster) -> str:
    labels = {"member": "member", "director": "director", "realserver": "realserver", "web": "web server",
              "arbitrator": "arbitrator"}  # fmt: skip
    counts = {label: len(cluster.nodes_with(role)) for role, label in labels.items()}  # type: ignore[arg-type]
    parts = [f"{count} {label}{'s' if count != 1 else ''}" for label, count in counts.items() if count]
    extras = [f"{len(cluster.resources)} resources"]
    if cluster.drbd:
        extras.append(f"{len(cluster.drbd.resources)} DRBD")
    if cluster.lvs:
        extras.append(f"{len(cluster.lvs.virtual_servers)} LVS services")
    return f"cluster '{cluster.name}': {', '.join(parts)}; {', '.join(extras)}"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="halab")
def main() -> None:
    """Declarative HA clusters: one cluster YAML -> Corosync, Pacemaker, DRBD, keepalived/LVS, Apache."""


@main.command()
@cluster_file
def validate(cluster_file: Path) -> None:
    """Check a cluster file (syntax, schema, cross-references); touch no host."""
    cluster = load_cluster(cluster_file)
    click.echo(f"valid: {_summary(cluster)}")


@main.command()
def schema() -> None:
    """Print the JSON Schema of the cluster file (for editors)."""
    click.echo(json.dumps(cluster_json_schema(), indent=2))


@main.command()
@cluster_source
@click.option(
    "-o",
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="inventory directory to (re)generate, e.g. inventories/NAME",
)
@click.option("--force", is_flag=True, help="overwrite or remove halab's files even where they were edited by hand")
def inventory(cluster: Cluster, source: str, output: Path, force: bool) -> None:
    """(Re)generate an editable Ansible inventory: only halab's own files (listed in
    OUTPUT/.halab-owned) are written or removed; your hosts, overrides and files stay."""
    from .connection import node_connections
    from .inventory import build_inventory, write_inventory

    changes = write_inventory(build_inventory(cluster, node_connections(cluster)), output, source, force=force)
    for line in changes.lines():
        click.echo(line)
    touched = len(changes.added) + len(changes.changed) + len(changes.removed)
    click.echo(f"{output}/: {len(changes.added)} added, {len(changes.changed)} changed, {len(changes.removed)} "
               f"removed, {len(changes.unchanged)} unchanged" + (f" (run: ansible-playbook -i {output} "
               "playbooks/site.yml)" if touched else ""))  # fmt: skip


@main.command()
@cluster_file
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path), required=True)
def render(cluster_file: Path, output: Path) -> None:
    """Render every configuration file per node (secrets redacted) into OUTPUT/."""
    from .inventory import build_inventory
    from .render import render_all, write_rendered

    cluster = load_cluster(cluster_file)
    written = write_rendered(render_all(build_inventory(cluster)), output)
    click.echo(f"rendered {len(written)} files into {output}/")


@main.command()
@cluster_target
@click.option("--check", is_flag=True, help="dry run: report what would change, change nothing")
@click.option("--diff", is_flag=True, help="show file and CIB differences")
@click.option("--limit", help="only these hosts (Ansible pattern)")
@click.option("--tags", help="only tasks with these tags (comma-separated)")
@click.option(
    "--vault-password-file", type=click.Path(exists=True, dir_okay=False), help="for !vault secrets in the cluster file"
)
@click.option("-v", "--verbose", count=True, help="more Ansible output in the run log")
@click.option(
    "--reset-operator-state",
    is_flag=True,
    help="remove moves, bans, standby, maintenance set by operators (kept by default)",
)
def deploy(
    cluster: Cluster,
    source: str,
    check: bool,
    diff: bool,
    limit: str | None,
    tags: str | None,
    vault_password_file: str | None,
    verbose: int,
    reset_operator_state: bool,
) -> None:
    """Validate, then converge every host with the Ansible roles (playbooks/site.yml)."""
    from .deploy import RESET_VARIABLE
    from .deploy import deploy as run_deploy
    from .runner import PlaybookOptions

    extra = {RESET_VARIABLE: True} if reset_operator_state else {}
    options = PlaybookOptions(check, diff, limit, tags, vault_password_file, verbose, extra)
    run_deploy(cluster, source, options)


@main.command()
@cluster_target
@click.option("-k", "select", help="only checks matching this pytest -k expression")
def verify(cluster: Cluster, source: str, select: str | None) -> None:
    """Check the live hosts against the cluster file (testinfra)."""
    from .verify import verify as run_verify

    run_verify(cluster, source, ["-k", select] if select else [])


@main.command()
@cluster_target
@click.option("--json", "as_json", is_flag=True, help="print the status as JSON (one line per round with --watch)")
@click.option(
    "--watch", type=click.FloatRange(min=1), metavar="SECONDS", help="print it again every SECONDS until Ctrl-C"
)
def status(cluster: Cluster, source: str, as_json: bool, watch: float | None) -> None:
    """Quorum, nodes, resources, failed actions, services, DRBD, VRRP, IPVS; exit 1 when not healthy."""
    from .status import show

    if not show(cluster, as_json, watch):
        raise OperationFailed("the cluster is not healthy")


@main.command()
@cluster_target
@click.argument("resource")
@click.argument("node", required=False)
@click.option("--lifetime", help="ISO 8601 duration after which the move expires, e.g. PT1H")
@click.option("--clear", is_flag=True, help="remove an earlier move (the resource may go back)")
def move(cluster: Cluster, source: str, resource: str, node: str | None, lifetime: str | None, clear: bool) -> None:
    """Move RESOURCE to NODE for maintenance (or --clear the move)."""
    from .operate import move as run_move

    run_move(cluster, resource, node, lifetime, clear)


@main.command()
@cluster_target
@click.argument("resource")
@click.argument("node")
@click.option("--lifetime", help="ISO 8601 duration after which the ban expires, e.g. PT1H")
@click.option("--clear", is_flag=True, help="remove the ban of RESOURCE from NODE")
def ban(cluster: Cluster, source: str, resource: str, node: str, lifetime: str | None, clear: bool) -> None:
    """Keep RESOURCE off NODE (deploys keep the ban), or --clear the ban."""
    from .operate import ban as run_ban

    run_ban(cluster, resource, node, lifetime, clear)


@main.command()
@cluster_target
@click.argument("state", type=click.Choice(["on", "off"]))
@click.option("--node", help="only this member (its resources stay where they are, unmanaged)")
def maintenance(cluster: Cluster, source: str, state: str, node: str | None) -> None:
    """Maintenance mode on or off: Pacemaker leaves the resources alone (deploys keep it)."""
    from .operate import maintenance as run_maintenance

    run_maintenance(cluster, state == "on", node)


@main.command()
@cluster_target
@click.argument("resource", required=False)
@click.option("--node", help="only on this member")
def cleanup(cluster: Cluster, source: str, resource: str | None, node: str | None) -> None:
    """Clear failed actions (all, or RESOURCE's) and wait until the cluster has settled."""
    from .operate import cleanup as run_cleanup

    run_cleanup(cluster, resource, node)


@main.command()
@cluster_target
@click.argument("node")
@click.option("--off", is_flag=True, help="take the node out of standby")
def standby(cluster: Cluster, source: str, node: str, off: bool) -> None:
    """Put NODE in standby (resources leave it) or back with --off."""
    from .operate import standby as run_standby

    run_standby(cluster, node, not off)


@main.command()
@cluster_target
@click.option(
    "--mode",
    type=click.Choice(["standby", "crash", "cut", "service-kill", "director-crash"]),
    default="standby",
    show_default=True,
    help="standby and service-kill work anywhere; crash (power-off), cut (cables pulled) and director-crash "
    "(the VRRP MASTER powered off) need a halab lab, or --allow-destructive",
)
@click.option("--target", metavar="NODE|RESOURCE", help="what to fail (default: where the first floating IP runs)")
@click.option("--repeat", type=int, default=1, show_default=True, help="runs, for p50/p95")
@click.option("--report", "report_dir", type=click.Path(path_type=Path),
              help="write drill-MODE.json and a timeline drill-MODE.png here (needs matplotlib: halab[report])")
@click.option("--allow-destructive", is_flag=True, help="crash hosts that are not a halab lab (a kernel reset)")
@click.option("--timeout", type=float, default=120, show_default=True, help="seconds to wait for recovery")
def drill(cluster: Cluster, source: str, mode: str, target: str | None, repeat: int, report_dir: Path | None,
          allow_destructive: bool, timeout: float) -> None:  # fmt: skip
    """Failover drill: fail what runs a service, time the outage per service, restore, check for
    split brain; every run undone, also on Ctrl-C."""
    from .drill import drill as run_drill
    from .drill import plan

    run_drill(cluster, plan(cluster, mode, target, repeat, timeout, report_dir, allow_destructive))


@main.command()
@cluster_target
@click.option("--release", type=click.Choice(["trixie"]), help="upgrade every node to this Debian release")
def upgrade(cluster: Cluster, source: str, release: str | None) -> None:
    """Rolling upgrade, one member at a time: the HA stack, or the whole node with --release."""
    from .upgrade import upgrade as run_upgrade

    run_upgrade(cluster, source, release)


@main.command()
@cluster_target
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    required=True,
    help="archive to create (NAME.tar.gz or .tgz), or a directory",
)
@click.option("--with-secrets", is_flag=True, help="keep the secrets in (the output is created mode 0600)")
@click.option("--force", is_flag=True, help="replace an existing output")
def backup(cluster: Cluster, source: str, output: Path, with_secrets: bool, force: bool) -> None:
    """Save what the nodes run (CIB, halab's files, package versions, crm_mon) with a manifest;
    secrets left out unless --with-secrets. Read-only on the hosts."""
    from .backup import backup as run_backup

    run_backup(cluster, output, with_secrets, force)


@main.command()
@cluster_target
@click.option("--yes", is_flag=True, help="do not ask for the cluster's name (scripts)")
@click.option("--purge", is_flag=True, help="also purge the HA stack's packages")
@click.option("--force-data-loss", is_flag=True, help="go on although a DRBD resource is Primary")
def destroy(cluster: Cluster, source: str, yes: bool, purge: bool, force_data_loss: bool) -> None:
    """Stop every resource and the cluster stack, remove halab's configuration from the nodes
    (asks for the cluster's name first)."""
    from .destroy import destroy as run_destroy

    run_destroy(cluster, source, yes, purge, force_data_loss)


@main.command()
@cluster_file
@click.option(
    "--fail",
    "names",
    multiple=True,
    required=True,
    metavar="NODE|RESOURCE",
    help="a member lost, or a resource (group, clone: each primitive) whose monitor fails; repeatable",
)
@click.option("--json", "as_json", is_flag=True, help="print the result as JSON")
def simulate(cluster_file: Path, names: tuple[str, ...], as_json: bool) -> None:
    """Where Pacemaker puts every resource after failures and failback (offline, crm_simulate);
    exit 1 if a resource is left stopped."""
    from . import simulate as sim

    scenario = sim.simulate(load_cluster(cluster_file), names)
    if as_json:
        click.echo(json.dumps(sim.as_json(scenario), indent=2))
    else:
        from rich.console import Console

        Console().print(sim.table(scenario))
    if scenario.fails:
        stopped = ", ".join(r.resource for r in scenario.rows if r.fails)
        raise OperationFailed(f"left stopped after the failure: {stopped}")


main.add_command(lab)


def run(argv: list[str] | None = None) -> int:
    """Entry point with halab's exit codes and no tracebacks for expected failures."""
    try:
        result = main.main(args=argv, prog_name="halab", standalone_mode=False)
    except HalabError as exc:
        click.echo(exc.render(), err=True)
        return exc.exit_code
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo("interrupted", err=True)
        return EXIT_INTERRUPTED
    except click.ClickException as exc:
        exc.show()
        return EXIT_INVALID if isinstance(exc, click.UsageError | click.BadParameter) else exc.exit_code
    return result if isinstance(result, int) else 0


def entry() -> None:
    sys.exit(run())
