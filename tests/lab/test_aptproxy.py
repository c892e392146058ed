"""The lab's apt proxy: only its package mirrors, redirects kept there, bodies streamed.

Runs the real proxy process on loopback against a small upstream on loopback (no lab,
no network): the upstream plays the mirror, another port plays a service the proxy must
not reach.
"""

from __future__ import annotations

import http.client
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

BIG = b"x" * (3 * 1024 * 1024 + 17)


class Upstream(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # no Content-Length on /stream: the body ends with the connection
    forbidden_port = 0

    def log_message(self, *args: object) -> None:
        """Quiet."""

    def do_GET(self) -> None:
        if self.path == "/debian/dists/x/Release":
            self._reply(b"Origin: test\n", length=True)
        elif self.path == "/stream":
            self._reply(BIG, length=False)
        elif self.path == "/debian/pool/main/h/hello.deb":
            self._reply(b"deb-bytes", length=True)
        elif self.path == "/elsewhere":
            self.send_response(302)
            self.send_header("Location", f"http://127.0.0.1:{self.forbidden_port}/secret")
            self.end_headers()
        else:
            self.send_error(404)

    def _reply(self, body: bytes, length: bool) -> None:
        self.send_response(200)
        if length:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _serve(handler: type[BaseHTTPRequestHandler]) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def proxy(tmp_path: Path) -> Iterator[tuple[int, int, int]]:
    upstream, forbidden = _serve(Upstream), _serve(Upstream)
    Upstream.forbidden_port = forbidden.server_port
    with __import__("socket").socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    child = subprocess.Popen([sys.executable, "-m", "halab.lab.aptproxy", "127.0.0.1", str(port),
                              str(tmp_path / "pool"), f"127.0.0.1:{upstream.server_port}"])  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                http.client.HTTPConnection("127.0.0.1", port, timeout=1).connect()
                break
            except OSError:
                time.sleep(0.05)
        yield port, upstream.server_port, forbidden.server_port
    finally:
        child.kill()
        child.wait()
        upstream.shutdown()
        forbidden.shutdown()


def _get(proxy_port: int, url: str) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", proxy_port, timeout=10)
    connection.request("GET", url)
    reply = connection.getresponse()
    return reply.status, reply.read()


def test_serves_its_mirror_and_streams_bodies_of_unknown_length(proxy: tuple[int, int, int]) -> None:
    port, mirror, _ = proxy
    assert _get(port, f"http://127.0.0.1:{mirror}/debian/dists/x/Release") == (200, b"Origin: test\n")
    assert _get(port, f"http://127.0.0.1:{mirror}/stream") == (200, BIG)
    assert _get(port, f"http://127.0.0.1:{mirror}/debian/pool/main/h/hello.deb") == (200, b"deb-bytes")


def test_refuses_everything_else(proxy: tuple[int, int, int]) -> None:
    port, mirror, forbidden = proxy
    assert _get(port, f"http://127.0.0.1:{forbidden}/secret")[0] == 403  # a loopback service
    assert _get(port, "http://example.org/")[0] == 403
    assert _get(port, f"https://127.0.0.1:{mirror}/debian/dists/x/Release")[0] == 400
    status, _ = _get(port, f"http://127.0.0.1:{mirror}/elsewhere")  # redirect to the loopback service
    assert status == 302  # passed back, never followed: the node's apt would ask the proxy again (403)
