"""A tiny caching HTTP proxy for apt in lab nodes: each .deb is downloaded once per machine.

Sharing /var/cache/apt/archives between nodes does not work: apt holds that directory's
lock for a whole install, so parallel installs in several nodes would fail or serialise.
Instead every lab runs this proxy on its primary bridge; the nodes' apt uses it for http.
Package files (immutable, under /pool/) are cached in cache_dir()/apt-pool, one download
per file guarded by a file lock (safe across labs); everything else (indices) is streamed
through. https repositories go direct (DNS and 443 are forwarded by the NAT rules).

It is no open proxy: it listens on the lab bridge's address only, serves plain http GETs
of the package mirrors it was started for (Debian's by default; more with
HALAB_LAB_MIRRORS=host,host), and follows no redirect to another host, so a lab node
cannot reach this machine's loopback services or anything else through it.

Run as `python -m halab.lab.aptproxy ADDRESS PORT CACHE_DIR [MIRROR_HOST...]`.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import sys
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

PORT = 3142
DEFAULT_MIRRORS = ("deb.debian.org", "security.debian.org")
MIRRORS_ENV = "HALAB_LAB_MIRRORS"
CHUNK = 64 * 1024
CACHED_SUFFIXES = (".deb", ".udeb")
PASSED_HEADERS = ("Content-Type", "Last-Modified", "ETag")
FORWARDED_HEADERS = ("If-Modified-Since", "If-None-Match", "Range", "User-Agent")


def mirrors() -> tuple[str, ...]:
    """Mirrors the proxy serves (`host` for port 80, or `host:port`): Debian's plus HALAB_LAB_MIRRORS."""
    extra = [host.strip().lower() for host in os.environ.get(MIRRORS_ENV, "").split(",") if host.strip()]
    return (*DEFAULT_MIRRORS, *extra)


class _SameMirrors(urllib.request.HTTPRedirectHandler):
    """Follow a redirect only to another allowed mirror (never to somewhere else)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        if not allowed(newurl, Handler.allowed):
            return None
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def allowed(url: str, mirrors: tuple[str, ...]) -> bool:
    """`url` is plain http on one of `mirrors`."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        return False
    try:
        port = parts.port or 80
    except ValueError:
        return False
    where = parts.hostname.lower() if port == 80 else f"{parts.hostname.lower()}:{port}"
    return where in mirrors


OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _SameMirrors())


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    cache: Path
    allowed: tuple[str, ...] = DEFAULT_MIRRORS

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: apt fetches hundreds of files."""

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.scheme != "http" or not url.hostname:
            self.send_error(400, "absolute http:// URLs only")
            return
        if not allowed(self.path, self.allowed):
            self.send_error(403, f"not a package mirror of this lab ({', '.join(self.allowed)})")
            return
        if "/pool/" in url.path and url.path.endswith(CACHED_SUFFIXES):
            self._cached(self.path)
        else:
            self._relay(self.path)

    def _cached(self, url: str) -> None:
        key = hashlib.sha256(url.encode()).hexdigest()
        path = self.cache / f"{key}-{Path(urlsplit(url).path).name}"
        if not path.exists():
            with (self.cache / f".{key}.lock").open("w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                if not path.exists() and not self._download(url, path):
                    return
        with path.open("rb") as data:
            self.send_response(200)
            self.send_header("Content-Type", "application/vnd.debian.binary-package")
            self.send_header("Content-Length", str(path.stat().st_size))
            self.end_headers()
            shutil.copyfileobj(data, self.wfile)

    def _download(self, url: str, path: Path) -> bool:
        tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
        try:
            with OPENER.open(url, timeout=60) as upstream, tmp.open("wb") as out:
                shutil.copyfileobj(upstream, out)
        except urllib.error.HTTPError as exc:
            self.send_error(exc.code, exc.reason)
            return False
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            self.send_error(502, str(exc))
            return False
        os.replace(tmp, path)
        return True

    def _relay(self, url: str) -> None:
        headers = {h: v for h in FORWARDED_HEADERS if (v := self.headers.get(h))}
        request = urllib.request.Request(url, headers=headers)
        try:
            upstream = OPENER.open(request, timeout=60)
        except urllib.error.HTTPError as exc:
            upstream = exc
        except OSError as exc:
            self.send_error(502, str(exc))
            return
        with upstream:
            self.send_response(upstream.status)
            for name in PASSED_HEADERS:
                if value := upstream.headers.get(name):
                    self.send_header(name, value)
            length = upstream.headers.get("Content-Length")
            if length is not None:
                self.send_header("Content-Length", length)
            else:  # unknown length: the end of the body is the end of the connection
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            while chunk := upstream.read(CHUNK):
                self.wfile.write(chunk)


def serve(address: str, port: int, cache: Path, allowed: tuple[str, ...]) -> None:
    cache.mkdir(parents=True, exist_ok=True)
    Handler.cache = cache
    Handler.allowed = allowed
    server = ThreadingHTTPServer((address, port), Handler)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    serve(sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]), tuple(sys.argv[4:]) or DEFAULT_MIRRORS)
