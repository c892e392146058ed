"""The process behind one lab node's virtual BMC (see `halab.lab.bmc`).

`python -m halab.lab.bmcserver LAB NODE ADDRESS BMC_PORT [PDU_PORT]`; the user name and
password come on stdin (two lines). One pyghmi BMC server per port, all acting on the
same node through the lab's power verbs; every power action is logged with the device
that did it, never a password.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import threading
import time
import traceback
import uuid
from typing import Any

import pyghmi.ipmi.bmc as pyghmi_bmc
import pyghmi.ipmi.private.constants as ipmi_constants
import pyghmi.ipmi.private.serversession as serversession
import pyghmi.ipmi.private.session as ipmi_session

from halab.errors import HalabError
from halab.lab import lab
from halab.lab.bmc import DEVICES

POWER_OFF, POWER_ON = 0, 1
NODE_BUSY = 0xC0  # IPMI completion code: the command failed, the client may retry
# A real server's firmware runs this long (and more) between "chassis power on" and its OS.
# A container boots in a second: without this, a node powered on by its fence device
# started its cluster stack before the fencer had confirmed the reboot, learned it had
# "allegedly just been fenced" and shut Pacemaker down for good (seen on Pacemaker 3.0).
FIRMWARE_SECONDS = 8.0
# pyghmi's server never ends a session (its logout and timeout are stubs): each client
# address it has seen stays routed to its old session. An ipmitool call takes seconds; after
# this long a session is dropped, so a client that reuses the source port starts afresh.
SESSION_SECONDS = 120.0
# A real BMC has a CPU of its own; a lab node's shares the host's with every node. Under a
# busy deploy a slow answer makes ipmitool resend mid-handshake, so it gets a head start.
BMC_NICE = -10
RMCP_OPEN_SESSION = 0x10  # IPMI 2.0 payload type: a client opens a session


def log(line: str) -> None:
    print(f"{time.strftime('%F %T')} {line}", file=sys.stderr, flush=True)


def wake_on_loopback() -> None:
    """Give pyghmi's event loop a first socket on loopback. pyghmi wakes its IO thread with a
    packet sent to its first socket at 127.0.0.1; with only the lab address bound, those
    packets are lost, the loop then moves only when a client's packet arrives, and a request
    that came in meanwhile waits for the client to resend it (seen as fence_ipmilan calls
    that did not complete within Pacemaker's 20 s)."""
    ipmi_session.Session._assignsocket(socket.getaddrinfo("127.0.0.1", 0, 0, socket.SOCK_DGRAM)[0])


def answer_resends_alike() -> None:
    """pyghmi's server answers a resent open-session request or RAKP1 as a new one, with new
    random ids and keys. The client goes on with the first answer, so its RAKP3 then fails
    the server's check (dropped without a word) and it retries until its caller gives up: a
    fence_ipmilan call that does not complete within Pacemaker's 20 s. Under load ipmitool
    resends after a second, so a resent request now gets the answer the first one got."""
    session_class = serversession.ServerSession
    create_response, got_rakp1, send = (session_class.create_open_session_response, session_class._got_rakp1,
                                        session_class.send_payload)  # fmt: skip
    rakp2 = ipmi_constants.payload_types["rakp2"]

    def create_open_session_response(self: Any, request: Any) -> Any:
        if bytes(request) != getattr(self, "halab_open_request", None):
            self.halab_open_request, self.halab_open_response = bytes(request), create_response(self, request)
        return self.halab_open_response

    def send_payload(self: Any, payload: Any = (), payload_type: Any = None, **options: Any) -> Any:
        if payload_type == rakp2:
            self.halab_rakp2 = payload
        return send(self, payload, payload_type, **options)

    def got_rakp1_once(self: Any, data: Any) -> Any:
        if bytes(data) == getattr(self, "halab_rakp1", None) and getattr(self, "halab_rakp2", None) is not None:
            return send(self, self.halab_rakp2, rakp2, retry=False)
        self.halab_rakp1 = bytes(data)
        return got_rakp1(self, data)

    session_class.create_open_session_response = create_open_session_response  # type: ignore[method-assign]
    session_class.send_payload = send_payload  # type: ignore[method-assign]
    session_class._got_rakp1 = got_rakp1_once  # type: ignore[method-assign]


def prepare_process() -> None:
    """Priority first (see BMC_NICE), then the event loop's wake-ups and handshake resends."""
    os.nice(BMC_NICE)
    wake_on_loopback()
    answer_resends_alike()


def serve(lab_name: str, node: str, address: str, udp_ports: list[int], username: str, secret: str) -> None:
    """Serve the node's BMC (and PDU outlet) until killed."""
    prepare_process()
    pending: list[object] = []  # the node's deferred boot, if one is due (cancelled by power off)
    opened: dict[tuple[str, int], float] = {}  # client address -> when its last session opened

    def boot(token: object) -> None:
        if token not in pending:
            return  # powered off again meanwhile
        pending.clear()
        try:
            outcome = "booting" if lab.power_on(lab_name, node) else "already running"
        except HalabError as exc:
            outcome = f"boot failed: {exc}"
        log(f"{node}: firmware done, {outcome}")

    class NodeBmc(pyghmi_bmc.Bmc):
        device = "bmc"

        def guarded(self, what: str, action: Any) -> int:
            try:
                outcome = "" if action() else " (no change)"
            except HalabError as exc:
                outcome, code = f" failed: {exc}", NODE_BUSY
            else:
                code = 0
            log(f"{self.device}: power {what}{outcome}")
            return code

        def sessionless_data(self, data: bytes, sockaddr: tuple[str, int]) -> None:
            if len(data) > 5 and data[4] == 6 and data[5] == RMCP_OPEN_SESSION:
                opened[sockaddr] = time.monotonic()
                log(f"{self.device}: session from {sockaddr[0]}:{sockaddr[1]}")
            super().sessionless_data(data, sockaddr)

        def get_power_state(self) -> int:
            return POWER_ON if pending or lab.running(lab_name, node) else POWER_OFF

        def off(self) -> bool:
            pending.clear()
            return lab.power_off(lab_name, node)

        def on(self) -> bool:
            """Chassis on now; the node boots once its firmware is done (a timer: pyghmi's
            event loop may sleep far longer than asked while no client talks to it)."""
            if pending or lab.running(lab_name, node):
                return False
            token = object()
            pending.append(token)
            firmware = threading.Timer(FIRMWARE_SECONDS, boot, args=(token,))
            firmware.daemon = True
            firmware.start()
            return True

        def power_off(self) -> int:
            return self.guarded("off", self.off)

        def power_shutdown(self) -> int:  # no ACPI in the lab: a soft off is an off
            return self.power_off()

        def power_on(self) -> int:
            return self.guarded("on", self.on)

        def power_cycle(self) -> int:
            return self.guarded("cycle", lambda: self.off() | self.on())

        def power_reset(self) -> int:
            return self.power_cycle()

        def cold_reset(self) -> int:
            return 0

        def get_system_guid(self) -> uuid.UUID:
            return uuid.uuid5(uuid.NAMESPACE_URL, f"halab-lab:{lab_name}/{node}")

    for device, port in zip(DEVICES, udp_ports, strict=False):
        server = NodeBmc({username: secret}, port=port, address=address)
        server.device = device
    log(f"{node}: BMC listening on {address} udp {', '.join(map(str, udp_ports))}")
    answer_forever(node, opened)


def answer_forever(node: str, opened: dict[tuple[str, int], float]) -> None:
    """pyghmi's event loop, one exchange at a time; also reaps the nodes booted here."""
    while True:
        try:
            ipmi_session.Session.wait_for_rsp(timeout=1)
        except Exception:  # one malformed exchange must not take the BMC down for good
            log(f"{node}: error in an IPMI exchange:\n{traceback.format_exc()}")
        expire_sessions(opened)
        with contextlib.suppress(ChildProcessError):  # nodes booted here exit when powered off
            while os.waitpid(-1, os.WNOHANG)[0]:
                pass


def expire_sessions(opened: dict[tuple[str, int], float]) -> None:
    """Forget the sessions of clients gone quiet for `SESSION_SECONDS`."""
    now = time.monotonic()
    for client in [c for c, at in opened.items() if now - at > SESSION_SECONDS]:
        del opened[client]
        ipmi_session.Session.bmc_handlers.pop(client, None)


if __name__ == "__main__":
    lab_arg, node_arg, address_arg, *port_args = sys.argv[1:]
    user, password_line = sys.stdin.readline().strip(), sys.stdin.readline().strip()
    sys.stdin.close()
    serve(lab_arg, node_arg, address_arg, [int(p) for p in port_args], user, password_line)
