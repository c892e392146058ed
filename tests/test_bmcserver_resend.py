"""The lab BMC (real pyghmi, on loopback) and a client that resends its open-session
request, as ipmitool does when the answer is late: pyghmi alone answers the resend with a
new managed session id (the client keeps the first, and its handshake then fails without a
word); with `answer_resends_alike` the resend gets the same answer."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SERVER_AND_CLIENT = """
import socket, struct, sys, threading
import pyghmi.ipmi.bmc as bmc
import pyghmi.ipmi.private.session as session
from halab.lab.bmcserver import answer_resends_alike, wake_on_loopback
wake_on_loopback()
if sys.argv[1] == "alike":
    answer_resends_alike()
probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
probe.bind(("127.0.0.1", 0))
port = probe.getsockname()[1]  # a free port: pyghmi routes a session by the port it was given
probe.close()
bmc.Bmc({"admin": "x"}, port=port, address="127.0.0.1")
threading.Thread(target=lambda: [session.Session.wait_for_rsp(timeout=0.2) for _ in range(50)], daemon=True).start()
# RMCP+ open session request: tag, privilege, reserved, client session id, then the auth,
# integrity and confidentiality algorithms of cipher suite 3.
payload = bytes([7, 4, 0, 0]) + b"\\x11\\x22\\x33\\x44" + bytes([0, 0, 0, 8, 1, 0, 0, 0, 1, 0, 0, 8, 1, 0, 0, 0,
                                                                   2, 0, 0, 8, 1, 0, 0, 0])
packet = b"\\x06\\x00\\xff\\x07\\x06\\x10" + bytes(8) + struct.pack("<H", len(payload)) + payload
client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
client.settimeout(3)
ids = []
for _ in range(2):
    client.sendto(packet, ("127.0.0.1", port))
    answer = client.recv(512)
    ids.append(answer[16 + 8:16 + 12].hex())
print("same" if ids[0] == ids[1] else "different")
"""


def exchange(mode: str) -> str:
    done = subprocess.run([sys.executable, "-c", SERVER_AND_CLIENT, mode], capture_output=True, text=True, cwd=ROOT,
                          timeout=30, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_a_resent_open_session_request_gets_the_same_answer() -> None:
    assert exchange("plain") == "different"  # pyghmi alone: the handshake this guards
    assert exchange("alike") == "same"
