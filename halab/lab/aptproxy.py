"""A tiny caching HTTP proxy for apt in lab nodes: each .deb is downloaded once per machine.

Sharing /var/cache/apt/archives between nodes does not work: apt holds that directory's
lock for a whole install, so parallel installs in several nodes would fail or serialise.
Instead every lab runs this proxy on its primary bridge; the nodes' apt uses it for http.
Package files (immutable, under /pool/) are cached in cache_dir()/apt-pool, one download
per file guarded by a file lock (safe across labs); everything else (indices) is passed
through. https repositories go direct (DNS and 443 are forwarded by the NAT rules).

Run as `python -m halab.lab.aptproxy ADDRESS PORT CACHE_DIR`.
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
CACHED_SUFFIXES = (".deb", ".udeb")
PASSED_HEADERS = ("Content-Type", "Last-Modified", "ETag")
FORWARDED_HEADERS = ("If-Modified-Since", "If-None-Match", "Range", "User-Agent")
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    cache: Path

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: apt fetches hundreds of files."""

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.scheme != "http" or not url.hostname:
            self.send_error(400, "absolute http:// URLs only")
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
            body = upstream.read()
            self.send_response(upstream.status)
            for name in PASSED_HEADERS:
                if value := upstream.headers.get(name):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)


def serve(address: str, port: int, cache: Path) -> None:
    cache.mkdir(parents=True, exist_ok=True)
    Handler.cache = cache
    server = ThreadingHTTPServer((address, port), Handler)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    serve(sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]))
