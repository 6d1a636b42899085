"""Copy bytes between stdin/stdout and a TCP connection: an ssh ProxyCommand.

Run inside a lab namespace (``ip netns exec eximlab-mx1 python -m
eximctl.lab.relay 192.0.2.11 22``), it lets ssh in the root namespace reach a
lab host, although the root namespace has no route into the lab.
"""

from __future__ import annotations

import os
import socket
import sys
import threading

_CHUNK = 65536


def _copy_stdin(connection: socket.socket) -> None:
    while data := os.read(sys.stdin.fileno(), _CHUNK):
        connection.sendall(data)
    connection.shutdown(socket.SHUT_WR)


def relay(address: str, port: int) -> None:
    """Connect to ``address``:``port`` and copy in both directions until EOF."""
    with socket.create_connection((address, port), timeout=10) as connection:
        connection.settimeout(None)
        threading.Thread(target=_copy_stdin, args=(connection,), daemon=True).start()
        while data := connection.recv(_CHUNK):
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()


def main(argv: list[str]) -> int:
    if len(argv) != 2 or not argv[1].isdigit():
        print("usage: python -m eximctl.lab.relay ADDRESS PORT", file=sys.stderr)
        return 2
    try:
        relay(argv[0], int(argv[1]))
    except OSError as exc:
        print(f"relay to {argv[0]} port {argv[1]} failed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
