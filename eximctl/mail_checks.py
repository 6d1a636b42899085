"""Check delivered mail and published keys independently of Exim.

DKIM signatures are verified with dkimpy and SPF is evaluated with pyspf,
both against a name server given by address, so a check run inside the lab
queries the lab DNS and never the machine's own resolver. The checks must run
where that name server can be reached (inside a lab namespace for the lab).
"""

from __future__ import annotations

import base64
import logging
import mailbox
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email import message_from_bytes, policy
from pathlib import Path

import dkim
import dns.exception
import dns.resolver
import spf

from eximctl.dkim_keys import dkim_txt_value

log = logging.getLogger(__name__)

DNS_TIMEOUT = 5.0


@dataclass(frozen=True)
class DeliveryEvidence:
    """The results of the independent checks on one delivered message."""

    headers: str
    dkim_pass: bool
    spf_result: str
    spf_explanation: str
    authentication_results: list[str]

    def report(self) -> str:
        """Return the evidence as text: the full header block, then results."""
        lines = [
            self.headers.rstrip("\n"),
            "",
            f"dkimpy: {'pass' if self.dkim_pass else 'fail'}",
            f"pyspf: {self.spf_result} ({self.spf_explanation})",
        ]
        return "\n".join(lines) + "\n"


def resolver_for(nameserver: str) -> dns.resolver.Resolver:
    """Return a resolver that queries only ``nameserver`` (an IP address)."""
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [nameserver]
    resolver.lifetime = DNS_TIMEOUT
    return resolver


def txt_record(name: str, nameserver: str) -> bytes | None:
    """Return the TXT record at ``name`` with its strings joined, or None."""
    try:
        answer = resolver_for(nameserver).resolve(name, "TXT")
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return None
    return b"".join(answer[0].strings)


def verify_dkim(message: bytes, nameserver: str) -> bool:
    """Return True when the first DKIM-Signature of ``message`` verifies."""

    def dnsfunc(name: bytes | str, timeout: float = DNS_TIMEOUT) -> bytes | None:
        text = name.decode() if isinstance(name, bytes) else name
        return txt_record(text, nameserver)

    return bool(dkim.verify(message, dnsfunc=dnsfunc))


@contextmanager
def _default_resolver(nameserver: str) -> Iterator[None]:
    # pyspf 2.0 queries through dnspython's module-level resolver.
    saved = dns.resolver.default_resolver
    dns.resolver.default_resolver = resolver_for(nameserver)
    try:
        yield
    finally:
        dns.resolver.default_resolver = saved


def check_spf(
    client_ip: str, sender: str, helo: str, nameserver: str
) -> tuple[str, str]:
    """Return the SPF result (RFC 7208) and its explanation for one client."""
    with _default_resolver(nameserver):
        result, explanation = spf.check2(i=client_ip, s=sender, h=helo)
    return str(result), str(explanation)


def mbox_messages(path: Path) -> list[bytes]:
    """Return the raw bytes of every message in the mbox file ``path``."""
    box = mailbox.mbox(str(path), create=False)
    try:
        return [box.get_bytes(key) for key in box.iterkeys()]
    finally:
        box.close()


def header_block(message: bytes) -> str:
    """Return the header section of ``message`` as text, folded as received."""
    head, _, _ = message.replace(b"\r\n", b"\n").partition(b"\n\n")
    return head.decode("utf-8", errors="replace") + "\n"


def delivery_evidence(
    message: bytes, client_ip: str, helo: str, nameserver: str
) -> DeliveryEvidence:
    """Check the DKIM signature and the SPF of one delivered message.

    ``client_ip`` and ``helo`` are those of the host that handed the message
    to the receiver, which SPF judges; the sender is the Return-path.
    """
    parsed = message_from_bytes(message, policy=policy.default)
    sender = str(parsed.get("Return-path", "")).strip().strip("<>")
    result, explanation = check_spf(client_ip, sender, helo, nameserver)
    return DeliveryEvidence(
        headers=header_block(message),
        dkim_pass=verify_dkim(message, nameserver),
        spf_result=result,
        spf_explanation=explanation,
        authentication_results=[
            str(value) for value in parsed.get_all("Authentication-Results", [])
        ],
    )


def dkim_dns_problem(
    domain: str, selector: str, key_path: Path, nameserver: str
) -> str | None:
    """Compare the published DKIM key of ``domain`` with its private key file.

    Returns None when the p= served by ``nameserver`` equals the public key
    derived from ``key_path``, else a sentence that names the record and the
    fix.
    """
    name = f"{selector}._domainkey.{domain}"
    try:
        record = txt_record(name, nameserver)
    except dns.exception.DNSException as exc:
        return f"the DKIM record {name} could not be queried at {nameserver}: {exc}"
    if record is None:
        return f"no DKIM record at {name}; publish the zone from 'eximctl zones'"
    published = _tag(record.decode("ascii", errors="replace"), "p")
    expected = _tag(dkim_txt_value(key_path), "p")
    if _decoded(published) != _decoded(expected):
        return (
            f"the DKIM record {name} does not match the private key {key_path}, "
            "so receivers reject every signature; run 'eximctl zones' and "
            "reload the name server"
        )
    return None


def _tag(record: str, tag: str) -> str:
    for part in record.split(";"):
        key, _, value = part.strip().partition("=")
        if key.strip() == tag:
            return "".join(value.split())
    return ""


def _decoded(value: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except ValueError:
        return value.encode()
