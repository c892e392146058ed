"""The faults a drill injects, and how each is undone.

On a halab lab the destructive faults are the lab's own verbs (power off, cables pulled),
which the lab can undo. On real hosts only what the cluster itself can undo is safe
(standby, a killed service process); a crash there is a kernel reset (sysrq), taken only
with --allow-destructive, and nothing can plug a real cable back in, so `cut` needs a lab.
"""

from __future__ import annotations

import shlex
import time
from dataclasses import dataclass

from .errors import OperationFailed
from .model import ApacheResource, Cluster, PrimitiveResource
from .operate import clear_failures, cluster_state_from, set_standby, settle
from .remote import Hosts

MODES = ("crash", "cut", "standby", "service-kill", "director-crash")
DESTRUCTIVE = ("crash", "cut", "director-crash")
VRRP_SETTLE = 5.0
# A hard reset, as a power cut would be; refused inside a container, whose /proc is the host's kernel.
RESET = ("systemd-detect-virt --container --quiet && exit 3; "
         "echo 1 > /proc/sys/kernel/sysrq; echo b > /proc/sysrq-trigger")


@dataclass(frozen=True)
class Fault:
    mode: str
    victim: str  # the node that is crashed, cut, drained, or runs the killed service
    lab: str | None  # the halab lab of the cluster, if it runs on one
    resource: str = ""  # service-kill: the resource whose main process dies


def kill_command(cluster: Cluster, resource: str) -> str | None:
    """How to kill `resource`'s main process (SIGKILL, no clean stop), if halab knows it."""
    res = next((r for r in cluster.resources if r.name == resource), None)
    if isinstance(res, ApacheResource):
        return "pkill -KILL --oldest --exact 'apache2|httpd'"  # the oldest is the parent the agent monitors
    if isinstance(res, PrimitiveResource) and res.agent.split(":")[0] in ("systemd", "service"):
        unit = shlex.quote(res.agent.split(":", 1)[1])
        return f'pid=$(systemctl show -p MainPID --value {unit}); [ "${{pid:-0}}" -gt 0 ] && kill -KILL "$pid"'
    return None


def killable(cluster: Cluster) -> list[str]:
    return [r.name for r in cluster.resources if kill_command(cluster, r.name)]


def inject(cluster: Cluster, hosts: Hosts, fault: Fault) -> None:
    if fault.mode == "standby":
        set_standby(cluster, hosts, fault.victim, True)
    elif fault.mode == "service-kill":
        done = hosts.run(fault.victim, str(kill_command(cluster, fault.resource)), 15)
        if done.rc != 0:
            raise OperationFailed(f"could not kill {fault.resource}'s process on {fault.victim}: "
                                  f"{(done.stderr or done.stdout).strip() or 'no such process'}")  # fmt: skip
    elif fault.lab is not None:
        from .lab import lab as lab_api

        if fault.mode == "cut":
            for link in range(len(cluster.networks)):
                lab_api.cut(fault.lab, fault.victim, link)
        else:
            lab_api.crash(fault.lab, fault.victim)
    else:  # crash or director-crash on a real host, with --allow-destructive (checked before)
        hosts.run(fault.victim, RESET, 5)  # does not answer: the machine is gone


def undo(cluster: Cluster, hosts: Hosts, fault: Fault) -> None:
    """Put the cluster back: standby off, the killed resource's failure forgotten (its fail
    count would keep it off that node), the lab node powered on and plugged in."""
    if fault.mode == "standby":
        set_standby(cluster, hosts, fault.victim, False)
    elif fault.mode == "service-kill":
        clear_failures(cluster, hosts, fault.resource)
    elif fault.lab is not None:
        from .lab import lab as lab_api

        lab_api.restore(fault.lab, fault.victim)
    # a reset real host reboots by itself


def wait_back(cluster: Cluster, hosts: Hosts, fault: Fault, timeout: float) -> None:
    """Until the victim serves its role again: a member online in Pacemaker (cluster settled),
    a director running keepalived."""
    members = [n.name for n in cluster.members]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if fault.mode == "director-crash":
            if hosts.run(fault.victim, "systemctl is-active --quiet keepalived", 5).rc == 0:
                time.sleep(VRRP_SETTLE)  # it starts as BACKUP and preempts after a few adverts
                return
        elif fault.victim in cluster_state_from(cluster, hosts, members).online:
            settle(cluster, hosts, 120)
            return
        time.sleep(2)
    raise OperationFailed(f"{fault.victim} did not come back within {timeout:.0f}s")
