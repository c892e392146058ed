"""`halab lab`: throwaway cluster nodes on this machine (systemd-nspawn).

Exit codes: 0 ok, 1 operational failure, 2 bad input, 130 interrupted.
"""

from __future__ import annotations

import functools
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from halab.errors import EXIT_INTERRUPTED, HalabError, InputError, InvalidInput
from halab.lab import bmc, containerimage, deps, state
from halab.lab import lab as ops
from halab.lab.image import DEFAULT_RELEASE, RELEASES
from halab.lab.spec import BACKENDS, LabSpec, check_lab_name, lab_spec_from_cluster
from halab.validation import load_cluster


def _handled(func: Callable[..., Any]) -> Callable[..., Any]:
    """Map a HalabError to its exit code with a one-line message; Ctrl-C/SIGTERM to 130."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        previous = signal.signal(signal.SIGTERM, _sigterm)
        try:
            return func(*args, **kwargs)
        except HalabError as exc:
            click.echo(f"halab lab: {exc.render()}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("halab lab: interrupted", err=True)
            sys.exit(EXIT_INTERRUPTED)
        finally:
            signal.signal(signal.SIGTERM, previous)

    return wrapper


def _sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _is_file_arg(arg: str) -> bool:
    return arg.endswith((".yml", ".yaml")) or Path(arg).is_file()


def _load_spec(path: str, name: str | None, backend: str | None = None, release: str | None = None) -> LabSpec:
    if not Path(path).is_file():
        raise InputError(f"{path}: no such file")
    try:
        cluster = load_cluster(path)
    except InvalidInput as exc:
        raise InputError(f"{path}: {exc.render()}") from exc
    try:
        return lab_spec_from_cluster(cluster, name, backend, release)
    except InputError as exc:
        raise InputError(f"{path}: {exc}") from exc


def _pick_lab(arg: str | None) -> str:
    """Lab named `arg`, or of cluster file `arg`, or the only lab there is."""
    labs = state.lab_names()
    if arg is None:
        if len(labs) == 1:
            return labs[0]
        if not labs:
            raise InputError("no lab is up")
        raise InputError(f"several labs are up ({', '.join(labs)}): name one")
    if _is_file_arg(arg):
        source = str(Path(arg).resolve())
        for name in labs:
            st = state.load(name)
            if st is not None and st.source == source:
                return name
        return _load_spec(arg, None).name
    return check_lab_name(arg)


@click.group()
def lab() -> None:
    """Throwaway cluster nodes on this machine (systemd-nspawn, Podman or QEMU; root only)."""


@lab.command()
@click.argument("cluster_file", required=False)
@click.option("--nodes", "count", type=int, help="Generic nodes node1..N instead of a file.")
@click.option("--name", help="Lab name (default: the cluster's name).")
@click.option(
    "--backend",
    type=click.Choice(list(BACKENDS)),
    default=None,
    help="vm: every node is a QEMU VM (stock kernel: ip_vs, drbd). podman, docker: that engine's "
    "containers (systemd as PID 1; docker: the engine behind DOCKER_HOST) instead of systemd-nspawn "
    "ones. Default container: systemd-nspawn containers, except the file's lab.vm_nodes.",
)
@click.option("--release", type=click.Choice(list(RELEASES)), default=None,
              help="Debian release of every node (default: the file's lab.release, else trixie).")  # fmt: skip
@click.option("--install-deps", is_flag=True,
              help=f"First run: {deps.INSTALL_COMMAND} (+ QEMU, Podman or the docker CLI as the nodes need)")
@_handled
def up(cluster_file: str | None, count: int | None, name: str | None, backend: str | None, release: str | None,
       install_deps: bool) -> None:  # fmt: skip
    """Create (or repair) a lab and wait until every node answers SSH."""
    if (cluster_file is None) == (count is None):
        raise InputError("give either CLUSTER.yml or --nodes N (with --name)")
    if cluster_file is None and name is None:
        raise InputError("--nodes needs --name")
    if cluster_file is not None:  # bad input is reported before any host check
        spec = _load_spec(cluster_file, name, backend, release)
        source: str | None = str(Path(cluster_file).resolve())
    else:
        assert name is not None and count is not None
        spec = ops.generic_lab(check_lab_name(name), count, backend or "container", release or DEFAULT_RELEASE)
        source = None
    if install_deps:
        deps.install_deps(spec.backends)
    deps.check_host(spec.backends)
    ops.up(spec, source, say=lambda msg: click.echo(msg, err=True))
    for n in spec.nodes:
        click.echo(f"{n.name}\t{spec.address(n)}")
    click.echo(f"lab {spec.name} is up ({len(spec.nodes)} nodes).", err=True)
    if cluster_file is not None:
        click.echo(f"Next: halab deploy {cluster_file}", err=True)


@lab.command()
@click.option("--release", type=click.Choice(list(RELEASES)), default=DEFAULT_RELEASE, show_default=True)
@click.option("--engine", type=click.Choice(containerimage.ENGINES), default="podman", show_default=True,
              help="the engine's CLI imports the image (docker: the engine behind DOCKER_HOST)")  # fmt: skip
@click.option("--check", is_flag=True,
              help="build nothing: exit 2 with the fix unless DOCKER_HOST answers and holds the image")  # fmt: skip
@_handled
def image(release: str, engine: str, check: bool) -> None:
    """The lab's Debian base as a container image (systemd init, sshd, python3), for
    Molecule's docker driver; cached by recipe. Prints the image's tags."""
    from halab.lab.engine import check_engine

    if check:
        check_engine(os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock"), containerimage.release_tag(release))
        click.echo(containerimage.release_tag(release))
        return
    started = time.monotonic()
    tag = containerimage.export_image(release, engine, say=lambda msg: click.echo(msg, err=True))
    click.echo(f"{tag}\n{containerimage.release_tag(release)}")
    click.echo(f"done in {time.monotonic() - started:.1f} s", err=True)


@lab.command()
@click.argument("target", required=False)
@_handled
def down(target: str | None) -> None:
    """Remove a lab and everything it created (a no-op if it is not up)."""
    if target is None and not state.lab_names():
        click.echo("no lab is up", err=True)
        return
    deps.check_host()
    name = _pick_lab(target)
    if ops.down(name):
        click.echo(f"lab {name} removed", err=True)
    else:
        click.echo(f"lab {name} is not up", err=True)


@lab.command()
@click.argument("name", required=False)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@_handled
def status(name: str | None, as_json: bool) -> None:
    """Nodes of a lab: running or down, links up or cut, addresses."""
    info = ops.status(_pick_lab(name))
    if as_json:
        click.echo(json.dumps(info, indent=2))
        return
    click.echo(f"lab {info['name']}" + (f" (from {info['source']})" if info["source"] else ""))
    for node, data in info["nodes"].items():
        links = " ".join(f"{net}:{st}" for net, st in data["links"].items())
        addrs = " ".join(data["addresses"].values())
        power = " ".join(f"{dev}@{b['address']}:{b['state'] if b['process'] == 'running' else 'STOPPED'}"
                         for dev, b in data["bmc"].items())  # fmt: skip
        click.echo(f"  {node:<16} {data['state']:<8} {addrs:<34} {links}  {power}")
    if info["bmc_password_file"]:
        click.echo(f"  BMC user admin, password in {info['bmc_password_file']}")


@lab.command(name="list")
@_handled
def list_() -> None:
    """Labs on this machine."""
    for name in state.lab_names():
        st = state.load(name)
        if st is not None:
            subnets = ", ".join(str(n.subnet) for n in st.spec.networks)
            click.echo(f"{name}\t{len(st.spec.nodes)} nodes\t{subnets}")


@lab.command(context_settings={"ignore_unknown_options": True})
@click.argument("node")
@click.option("--lab", "lab_name", help="Lab name (needed when several are up).")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@_handled
def ssh(node: str, lab_name: str | None, command: tuple[str, ...]) -> None:
    """SSH to a node as root; `-- CMD...` runs a command. Exits with ssh's code."""
    from halab.lab.ssh import ssh_argv

    st = ops.require(_pick_lab(lab_name))
    tty = not command and sys.stdin.isatty()
    sys.exit(subprocess.call(ssh_argv(st, node, list(command), tty=tty)))


@lab.command()
@click.argument("node")
@click.option("--lab", "lab_name", help="Lab name (needed when several are up).")
@_handled
def crash(node: str, lab_name: str | None) -> None:
    """Hard power-off of a node (SIGKILL, no shutdown)."""
    deps.check_host()
    ops.crash(_pick_lab(lab_name), node)
    click.echo(f"{node} crashed", err=True)


@lab.command()
@click.argument("node")
@click.option("--link", default=0, show_default=True, help="Network index (0 = primary).")
@click.option("--lab", "lab_name", help="Lab name (needed when several are up).")
@_handled
def cut(node: str, link: int, lab_name: str | None) -> None:
    """Pull a node's cable: its veth on network LINK goes down on the host side."""
    deps.check_host()
    ops.cut(_pick_lab(lab_name), node, link)
    click.echo(f"{node}: link {link} cut", err=True)


@lab.command()
@click.argument("node")
@click.option("--lab", "lab_name", help="Lab name (needed when several are up).")
@_handled
def restore(node: str, lab_name: str | None) -> None:
    """Plug a node's cables back in; boot it again if it was crashed."""
    deps.check_host()
    ops.restore(_pick_lab(lab_name), node)
    click.echo(f"{node} restored", err=True)


def _plug_command(plugged: bool) -> Callable[..., None]:
    verb = "plug" if plugged else "unplug"

    @click.argument("node")
    @click.option("--device", type=click.Choice(["bmc", "pdu"]), default="bmc", show_default=True,
                  help="the node's BMC, or its PDU outlet (lab.bmc.pdu_port)")  # fmt: skip
    @click.option("--lab", "lab_name", help="Lab name (needed when several are up).")
    @_handled
    def command(node: str, device: str, lab_name: str | None) -> None:
        deps.check_host()
        bmc.set_plugged(_pick_lab(lab_name), node, device, plugged)
        click.echo(f"{node}: {device} {verb}ged", err=True)

    command.__doc__ = ("Plug a node's BMC (or PDU outlet) back in: it answers again." if plugged
                       else "Unplug a node's BMC (or PDU outlet): it stops answering, to test fencing failures.")
    return lab.command(name=verb)(command)


plug = _plug_command(True)
unplug = _plug_command(False)


if __name__ == "__main__":
    lab()
