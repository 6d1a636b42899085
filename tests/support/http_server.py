"""A local HTTP server for the source tests: static files, Range, faults.

It serves ``files`` (path -> bytes) on 127.0.0.1, answers a folder path with
an HTML index of the files in it (plus ``listed`` names), honours
``Range: bytes=N-[M]`` with 206/416, and records every request so that tests
can check what was asked for (and what was not).
"""

from __future__ import annotations

import html
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import cast


@dataclass
class Request:
    path: str
    headers: dict[str, str]


@dataclass
class FakeSite:
    """What the server serves; tests change it between requests."""

    files: dict[str, bytes] = field(default_factory=dict)
    listed: dict[str, list[str]] = field(default_factory=dict)
    """Extra names that a folder's index lists (without serving them)."""
    cut_after: dict[str, int] = field(default_factory=dict)
    """Paths whose body stops after N bytes although Content-Length is full."""
    requests: list[Request] = field(default_factory=list)
    url: str = ""

    def requested(self, path: str) -> list[Request]:
        return [r for r in self.requests if r.path == path]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    site: FakeSite


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        site = cast(_Server, self.server).site
        path = self.path.split("?", 1)[0]
        site.requests.append(Request(path, dict(self.headers.items())))
        if path.endswith("/"):
            self._index(site, path)
        elif path in site.files:
            self._file(site, path, site.files[path])
        else:
            self._send(404, b"not found", "text/plain")

    def _index(self, site: FakeSite, folder: str) -> None:
        names = {p[len(folder) :] for p in site.files if p.startswith(folder)}
        names = {n for n in names if n and "/" not in n} | set(
            site.listed.get(folder, [])
        )
        if not names and folder not in site.listed:
            self._send(404, b"not found", "text/plain")
            return
        rows = "".join(
            f'<tr><td><a href="{html.escape(n)}">{html.escape(n)}</a></td></tr>\n'
            for n in sorted(names)
        )
        body = (
            f"<html><body><h1>Index of {folder}</h1><table>{rows}</table></body></html>"
        )
        self._send(200, body.encode(), "text/html")

    def _file(self, site: FakeSite, path: str, data: bytes) -> None:
        start, end = 0, len(data) - 1
        status = 200
        header = self.headers.get("Range", "")
        if header.startswith("bytes="):
            first, _, last = header[6:].partition("-")
            start = int(first or 0)
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            end = min(int(last), len(data) - 1) if last else len(data) - 1
            status = 206
        body = data[start : end + 1]
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
        self.send_header("Accept-Ranges", "bytes")
        if path in site.cut_after:
            body = body[: site.cut_after[path]]
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@contextmanager
def serve(site: FakeSite) -> Iterator[FakeSite]:
    """Serve ``site`` on 127.0.0.1 (a free port) while the block runs."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.site = site
    host, port = server.server_address[:2]
    site.url = f"http://{host!s}:{port}"
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield site
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
