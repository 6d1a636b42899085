"""A TLS client that the TLS checks run on the host under test.

The source in SCRIPT is sent to the host as ``python3 -c``, so it uses only
the standard library. Its arguments are the address and a JSON list of
handshakes. Each handshake names a port, a mode ("starttls", or "tls" for
TLS on connect) and, optionally, a [minimum, maximum] pair of protocol names
and an OpenSSL cipher string. The script prints one JSON result per
handshake: the protocol, cipher, key bits and peer certificate (DER, base64),
or the error. Nothing is verified, because the checks judge the certificate
themselves.

Before it connects, the script binds a socket to the address. That fails
unless the address belongs to the host the script runs on, so a check run
on the wrong host never sends anything across the network.
"""

from __future__ import annotations

import json
import shlex
from typing import Any

from eximctl.errors import TlsCheckError

SCRIPT = r"""
import base64, json, smtplib, socket, ssl, sys
address, handshakes = sys.argv[1], json.loads(sys.argv[2])
family = socket.AF_INET6 if ":" in address else socket.AF_INET
try:
    with socket.socket(family) as sock:
        sock.bind((address, 0))
except OSError as exc:
    print(json.dumps({"not_local": str(exc)}))
    sys.exit(0)
results = []
for handshake in handshakes:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    if handshake.get("versions"):
        context.minimum_version = ssl.TLSVersion[handshake["versions"][0]]
        context.maximum_version = ssl.TLSVersion[handshake["versions"][1]]
    if handshake.get("ciphers"):
        context.set_ciphers(handshake["ciphers"])
    result = dict(handshake)
    try:
        if handshake["mode"] == "tls":
            client = smtplib.SMTP_SSL(address, handshake["port"], timeout=20, context=context)
        else:
            client = smtplib.SMTP(address, handshake["port"], timeout=20)
            client.ehlo("verify.eximctl.test")
            client.starttls(context=context)
        with client:
            cipher = client.sock.cipher()
            result["version"] = client.sock.version()
            result["cipher"], result["bits"] = cipher[0], cipher[2]
            der = client.sock.getpeercert(binary_form=True) or b""
            result["certificate"] = base64.b64encode(der).decode()
            client.ehlo("verify.eximctl.test")
            result["ehlo_after_tls"] = client.ehlo_resp.decode(errors="replace")
    except (OSError, smtplib.SMTPException, ValueError) as exc:
        result["error"] = type(exc).__name__ + ": " + str(exc)
    results.append(result)
print(json.dumps({"results": results}))
"""

Host = Any  # testinfra.host.Host; testinfra ships no type hints


def run_handshakes(
    host: Host, address: str, handshakes: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Run ``handshakes`` against ``address`` from ``host``; return the results."""
    command = shlex.join(["python3", "-c", SCRIPT, address, json.dumps(handshakes)])
    completed = host.run(command)
    if completed.rc != 0:
        raise TlsCheckError(
            address, f"python3 failed on the host: {completed.stderr.strip()}"
        )
    output: dict[str, Any] = json.loads(completed.stdout)
    if "not_local" in output:
        raise TlsCheckError(
            address,
            f"not an address of the host under test ({output['not_local']}). "
            "Run the check on the host that has it, for example over ssh",
        )
    results: list[dict[str, Any]] = output["results"]
    return results
