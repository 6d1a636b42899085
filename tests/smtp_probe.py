"""A scripted SMTP client that lab tests run inside a lab namespace.

It reads one JSON request on stdin and prints one JSON result on stdout, so
passwords never appear on a command line. It uses only the standard library
and sends every command as written (``docmd``), because smtplib would
rewrite addresses such as source routes and quoted local parts.

Request keys: ``address``, ``port``, ``mode``, ``server_hostname``,
``ca_file``, ``tls_versions``, ``ciphers``, ``expect_banner`` and ``steps``.
The mode is "plain" (the default) or "tls" for TLS on connect. With
``ca_file`` the chain and the host name are verified against that CA, and
without it nothing is verified. ``tls_versions`` is a [minimum, maximum] pair
of ssl.TLSVersion names. Each step is a [command, argument] pair. Commands:
ehlo, starttls, auth_plain (argument [user, password]), mail, rcpt, data
(argument: the message), raw (send a line and read until the server closes)
and quit.

The result contains ``banner``, ``replies`` (one entry per step run) and
``error`` when a step raised. A "starttls" reply, and the ``tls`` entry of a
TLS-on-connect session, add the negotiated ``version``, ``cipher`` and the
peer certificate.
"""

from __future__ import annotations

import base64
import json
import smtplib
import socket
import ssl
import sys
from typing import Any

TIMEOUT = 15.0


def tls_context(request: dict[str, Any]) -> ssl.SSLContext:
    """Build the client context, which verifies only when ``ca_file`` is given."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ca_file = request.get("ca_file")
    if ca_file:
        context.load_verify_locations(ca_file)
    else:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    versions = request.get("tls_versions")
    if versions:
        context.minimum_version = ssl.TLSVersion[versions[0]]
        context.maximum_version = ssl.TLSVersion[versions[1]]
    if request.get("ciphers"):
        context.set_ciphers(request["ciphers"])
    return context


def tls_details(sock: ssl.SSLSocket) -> dict[str, Any]:
    """Return the protocol, cipher and peer certificate of a TLS socket."""
    cipher = sock.cipher()
    der = sock.getpeercert(binary_form=True) or b""
    return {
        "version": sock.version(),
        "cipher": cipher[0] if cipher else None,
        "peer_certificate": sock.getpeercert(),
        "certificate_der": base64.b64encode(der).decode(),
    }


def start_tls(client: smtplib.SMTP, request: dict[str, Any]) -> dict[str, Any]:
    """Send STARTTLS and, after a 220, run the handshake on the same socket."""
    code, text = client.docmd("STARTTLS")
    reply: dict[str, Any] = {"code": code, "text": text.decode(errors="replace")}
    if code != 220:
        return reply
    context = tls_context(request)
    hostname = request.get("server_hostname") or request["address"]
    assert client.sock is not None
    client.sock = context.wrap_socket(client.sock, server_hostname=hostname)
    client.file = None
    # RFC 3207 section 4.2: the client discards what it learnt before TLS.
    client.helo_resp = None
    client.ehlo_resp = None
    client.esmtp_features = {}
    client.does_esmtp = False
    reply.update(tls_details(client.sock))
    return reply


def run_step(
    client: smtplib.SMTP, request: dict[str, Any], command: str, argument: Any
) -> dict[str, Any]:
    """Run one step and return its reply code and text."""
    if command == "ehlo":
        code, text = client.ehlo(argument or "probe.inbox.test")
        return {
            "code": code,
            "text": text.decode(errors="replace"),
            "features": sorted(client.esmtp_features),
        }
    if command == "starttls":
        return start_tls(client, request)
    if command == "auth_plain":
        token = base64.b64encode(f"\0{argument[0]}\0{argument[1]}".encode())
        code, text = client.docmd("AUTH", "PLAIN " + token.decode())
    elif command == "mail":
        code, text = client.docmd(f"MAIL FROM:{argument}")
    elif command == "rcpt":
        code, text = client.docmd(f"RCPT TO:{argument}")
    elif command == "data":
        code, text = client.data(argument.encode())
    elif command == "raw":
        return send_raw(client, argument)
    elif command == "quit":
        code, text = client.docmd("QUIT")
    else:
        raise ValueError(f"unknown step {command!r}")
    return {"code": code, "text": text.decode(errors="replace")}


def send_raw(client: smtplib.SMTP, line: str) -> dict[str, Any]:
    """Send ``line`` and return the bytes the server sends back before closing."""
    assert client.sock is not None
    client.sock.sendall(line.encode() + b"\r\n")
    received = b""
    try:
        while chunk := client.sock.recv(4096):
            received += chunk
    except (TimeoutError, OSError) as exc:
        return {"received": received.decode(errors="replace"), "error": repr(exc)}
    return {"received": received.decode(errors="replace"), "closed": True}


def connect(request: dict[str, Any], result: dict[str, Any]) -> smtplib.SMTP:
    """Open the connection, with TLS first for "tls", and read the banner."""
    sock: socket.socket = socket.create_connection(
        (request["address"], request["port"]), timeout=TIMEOUT
    )
    if request.get("mode") == "tls":
        hostname = request.get("server_hostname") or request["address"]
        sock = tls_context(request).wrap_socket(sock, server_hostname=hostname)
        result["tls"] = tls_details(sock)
    client = smtplib.SMTP(timeout=TIMEOUT)
    client.sock = sock
    if request.get("expect_banner", True):
        code, text = client.getreply()
        result["banner"] = {"code": code, "text": text.decode(errors="replace")}
    return client


def main() -> int:
    request = json.load(sys.stdin)
    result: dict[str, Any] = {"replies": []}
    try:
        client = connect(request, result)
        for command, argument in request.get("steps", []):
            result["replies"].append(run_step(client, request, command, argument))
        client.close()
    except (OSError, smtplib.SMTPException, ValueError) as exc:
        result["error"] = f"{type(exc).__name__}: {exc}"
    json.dump(result, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
