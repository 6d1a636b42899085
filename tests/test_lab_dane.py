"""DANE on the lab: mx1 and mx2 verify each other by their TLSA records.

Both sites set tls.dane and trust the lab NSD's authoritative responses for
*.test (tls.dns_trust_aa). A message between them is delivered with
"CV=dane" in the sender's mainlog. With a TLSA record that does not match
the certificate, the delivery is deferred: never sent unverified or in
clear text. The served zone is restored afterwards.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from lab_helpers import python_in_namespace
from lab_mail_helpers import (
    exim,
    make_message,
    message_tokens,
    queue_count,
    submit,
    wait_until,
)
from lab_outbound import MainLog

from eximctl.lab import nsd
from eximctl.lab.control import NamespaceStatus
from eximctl.lab.hosts import find_host
from eximctl.lab.mail import lab_site
from eximctl.tls_certs import certificate_paths

pytest_plugins = ["lab_fixtures"]

pytestmark = [pytest.mark.lab, pytest.mark.exim]

ALPHA_ZONE = nsd.ZONES_DIRECTORY / "alpha.test.zone"
MX1_TLSA = "_25._tcp.mx1.alpha.test"
WRONG_DIGEST = "00" * 32

# Queries the lab NSD for one record and prints the flags and the answer section.
_QUERY = """
import json
import dns.flags, dns.message, dns.query
query = dns.message.make_query({name!r}, {rdtype!r})
response = dns.query.udp(query, {server!r}, timeout=5)
answers = [rdata.to_text() for rrset in response.answer for rdata in rrset]
print(json.dumps(dict(flags=dns.flags.to_text(response.flags), answers=answers)))
"""


@pytest.fixture(scope="module", autouse=True)
def lab(lab_full: list[NamespaceStatus]) -> list[NamespaceStatus]:
    return lab_full


def query(client: str, name: str, rdtype: str) -> dict[str, object]:
    """Query the lab NSD from lab host ``client``; return the flags and the answer records."""
    code = _QUERY.format(name=name, rdtype=rdtype, server=find_host("dns").address)
    result = python_in_namespace(client, code)
    assert result.returncode == 0, result.stderr
    answer: dict[str, object] = json.loads(result.stdout)
    return answer


def certificate_digest(host: str) -> str:
    """Return the SHA-256 of the SubjectPublicKeyInfo of the host's certificate."""
    cert_path, _ = certificate_paths(lab_site(find_host(host)))
    certificate = x509.load_pem_x509_certificate(cert_path.read_bytes())
    der = certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()


def send(host: str, sender: str, recipient: str) -> tuple[str, MainLog]:
    """Submit a message on ``host``; return its token and the host's new log."""
    token = f"dane-{uuid.uuid4().hex[:8]}"
    log = MainLog(host)
    submit(host, sender, recipient, make_message(sender, recipient, token))
    return token, log


def message_id(log: MainLog, token: str) -> str:
    line = log.wait_for(rf" <= .* id={token}@")
    return line.split()[2]


def test_tlsa_served_matches_certificate() -> None:
    answer = query("mx2", MX1_TLSA, "TLSA")
    assert answer["answers"] == [f"3 1 1 {certificate_digest('mx1')}"]
    # Without AA, dns_trust_aa would not make the answer count as validated.
    assert "AA" in str(answer["flags"]).split()


@pytest.mark.parametrize(
    ("sender_host", "sender", "recipient", "peer"),
    [
        ("mx2", "bob@beta.test", "ann@alpha.test", "mx1.alpha.test"),
        ("mx1", "ann@alpha.test", "bob@beta.test", "mx2.beta.test"),
    ],
)
def test_backup_delivery_dane_verified(
    sender_host: str, sender: str, recipient: str, peer: str
) -> None:
    token, log = send(sender_host, sender, recipient)
    queue_id = message_id(log, token)

    line = log.wait_for(rf"{queue_id} => {re.escape(recipient)} ")
    assert "T=remote_smtp" in line
    assert f"H={peer} " in line
    assert " CV=dane " in line
    assert f'DN="/CN={peer}"' in line


@dataclass
class WrongTlsa:
    """What mx2 logged for a message to mx1 while mx1's TLSA did not match."""

    queue_id: str
    token: str
    lines: list[str]
    queued: int
    mx1_lines: list[str]
    delivered_after_restore: str


def serve_alpha_zone(text: str) -> None:
    ALPHA_ZONE.write_text(text)
    assert nsd.start_nsd(nsd.ZONES_DIRECTORY, restart=True) == "restarted"


@pytest.fixture(scope="module")
def wrong_tlsa() -> Iterator[WrongTlsa]:
    original = ALPHA_ZONE.read_text()
    wrong, count = re.subn(
        rf"(?m)^({MX1_TLSA}\. \d+ IN TLSA 3 1 1 )[0-9a-f]+$",
        rf"\g<1>{WRONG_DIGEST}",
        original,
    )
    assert count == 1, original
    mx1_log = MainLog("mx1")
    try:
        serve_alpha_zone(wrong)
        assert query("mx2", MX1_TLSA, "TLSA")["answers"] == [f"3 1 1 {WRONG_DIGEST}"]
        token, log = send("mx2", "bob@beta.test", "amy@alpha.test")
        queue_id = message_id(log, token)
        log.wait_for(rf"{queue_id} == amy@alpha.test ")
        lines = log.lines()
        queued = queue_count("mx2")
        mx1_lines = mx1_log.lines()
    finally:
        serve_alpha_zone(original)

    restored = MainLog("mx2")
    # -M forces the delivery now, ignoring the retry times mx2 keeps for mx1.
    assert exim("mx2", "-M", queue_id).returncode == 0
    delivered = restored.wait_for(rf"{queue_id} => amy@alpha.test ")
    yield WrongTlsa(queue_id, token, lines, queued, mx1_lines, delivered)


def test_wrong_tlsa_defers_delivery(wrong_tlsa: WrongTlsa) -> None:
    text = "\n".join(wrong_tlsa.lines)
    deferral = [
        line for line in wrong_tlsa.lines if f"{wrong_tlsa.queue_id} == " in line
    ]
    assert len(deferral) == 1, text
    assert "defer" in deferral[0]
    assert "certificate verify failed" in deferral[0]
    assert f"{wrong_tlsa.queue_id} DANE attempt failed" in text
    assert f"{wrong_tlsa.queue_id} => " not in text
    assert wrong_tlsa.queued >= 1


def test_wrong_tlsa_nothing_reaches_mx1(wrong_tlsa: WrongTlsa) -> None:
    text = "\n".join(wrong_tlsa.mx1_lines)
    assert wrong_tlsa.token not in text
    received = [line for line in wrong_tlsa.mx1_lines if " <= " in line]
    assert [line for line in received if "[192.0.2.12]" in line] == []
    # mx2 gave up during the TLS handshake, before any SMTP command.
    assert "TLS error on connection from (mx2.beta.test) [192.0.2.12]" in text


def test_restored_tlsa_delivers_verified(wrong_tlsa: WrongTlsa) -> None:
    assert " CV=dane " in wrong_tlsa.delivered_after_restore
    arrived = wait_until(
        lambda: message_tokens("mx1", "amy")[wrong_tlsa.token],
        lambda n: n >= 1,
        30,
        "delivery to amy after the TLSA record was restored",
    )
    assert arrived == 1
