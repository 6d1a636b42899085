"""TLS on the lab: STARTTLS, TLS on connect, required TLS and protocol floor.

Every client runs in the inbox namespace, an outside host, and connects to
mx1 (ports 25, 465 with TLS on connect, 587 with TLS required) or to the
relay. Certificates are verified against the lab CA with the host name
checked.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from lab_smtp import LAB_CA, codes, probe

from eximctl.lab.control import NamespaceStatus
from eximctl.lab.hosts import find_host
from eximctl.lab.mail import lab_site
from eximctl.lab.sshd import SSH_CONFIG
from eximctl.verify import run_checks

pytestmark = pytest.mark.lab

MX1 = "192.0.2.11"
RELAY = "192.0.2.25"
MX1_NAME = "mx1.alpha.test"
RELAY_NAME = "smtp.relay.test"
MX1_LOG = Path("/var/lib/eximctl/lab/mx1/log/mainlog")
MODERN = ("TLSv1.2", "TLSv1.3")
SENDER = "<probe@inbox.test>"


@pytest.fixture(scope="module", autouse=True)
def lab(lab_full: list[NamespaceStatus]) -> list[NamespaceStatus]:
    return lab_full


def starttls_session(address: str, port: int, name: str, *steps: Any) -> Any:
    """EHLO, STARTTLS with verification against the lab CA, EHLO, ``steps``."""
    return probe(
        "inbox",
        address=address,
        port=port,
        server_hostname=name,
        ca_file=LAB_CA,
        steps=[["ehlo", None], ["starttls", None], ["ehlo", None], *steps],
    )


def san_names(reply: dict[str, Any]) -> list[str]:
    san = reply["peer_certificate"].get("subjectAltName", [])
    return [value for kind, value in san if kind == "DNS"]


def wait_for_log(path: Path, start: int, text: str, deadline: float = 10.0) -> str:
    """Return the first line after byte ``start`` of ``path`` with ``text``."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        with path.open("rb") as log:
            log.seek(start)
            for line in log.read().decode(errors="replace").splitlines():
                if text in line:
                    return line
        time.sleep(0.2)
    return ""


@pytest.mark.parametrize("port", [25, 587])
def test_starttls_verified_chain(port: int) -> None:
    result = starttls_session(MX1, port, MX1_NAME)
    assert "error" not in result, result.get("error")
    handshake = result["replies"][1]
    assert handshake["code"] == 220
    assert handshake["version"] in MODERN
    assert handshake["cipher"]
    assert MX1_NAME in san_names(handshake)
    issuer = dict(x[0] for x in handshake["peer_certificate"]["issuer"])
    assert issuer["commonName"] == "eximctl lab CA"


def test_starttls_wrong_name_fails_verification() -> None:
    result = starttls_session(MX1, 25, "mx2.beta.test")
    assert "CERTIFICATE_VERIFY_FAILED" in result["error"]
    assert "mismatch" in result["error"].lower()


@pytest.mark.parametrize("port", [25, 587])
def test_k09_second_ehlo_after_starttls(port: int) -> None:
    result = starttls_session(MX1, port, MX1_NAME)
    before, after = result["replies"][0], result["replies"][2]
    assert before["code"] == 250
    assert after["code"] == 250
    assert "starttls" in before["features"]
    assert "starttls" not in after["features"]
    assert before["features"] != after["features"]


@pytest.mark.parametrize("port", [25, 587])
def test_k09_relay_auth_only_after_starttls(port: int) -> None:
    result = starttls_session(RELAY, port, RELAY_NAME)
    before, handshake, after = result["replies"]
    assert "auth" not in before["features"]
    assert "starttls" in before["features"]
    assert handshake["version"] in MODERN
    assert RELAY_NAME in san_names(handshake)
    assert "auth" in after["features"]
    assert "PLAIN" in after["text"]


def test_k12_tls_on_connect_465() -> None:
    result = probe(
        "inbox",
        address=MX1,
        port=465,
        mode="tls",
        server_hostname=MX1_NAME,
        ca_file=LAB_CA,
        steps=[["ehlo", None], ["mail", SENDER], ["rcpt", "<ann@alpha.test>"]],
    )
    assert "error" not in result, result.get("error")
    assert result["tls"]["version"] in MODERN
    assert MX1_NAME in san_names(result["tls"])
    assert result["banner"]["code"] == 220
    assert codes(result) == [250, 250, 250]
    # Already encrypted: STARTTLS is not offered again.
    assert "starttls" not in result["replies"][0]["features"]


def test_k12_plain_ehlo_on_465_fails() -> None:
    result = probe(
        "inbox",
        address=MX1,
        port=465,
        expect_banner=False,
        steps=[["raw", "EHLO probe.inbox.test"]],
    )
    (reply,) = result["replies"]
    assert "220" not in reply["received"]
    assert "250" not in reply["received"]
    assert reply.get("closed") or "reset" in reply.get("error", "").lower()


def test_k14_plain_rcpt_rejected_where_tls_required() -> None:
    result = probe(
        "inbox",
        address=MX1,
        port=587,
        steps=[["ehlo", None], ["mail", SENDER], ["rcpt", "<ann@alpha.test>"]],
    )
    ehlo, mail, rcpt = result["replies"]
    assert "starttls" in ehlo["features"]
    assert mail["code"] == 250
    assert 500 <= rcpt["code"] < 600
    assert "TLS required on port 587" in rcpt["text"]
    assert "STARTTLS" in rcpt["text"]


def test_k14_same_rcpt_after_starttls_accepted() -> None:
    result = starttls_session(
        MX1, 587, MX1_NAME, ["mail", SENDER], ["rcpt", "<ann@alpha.test>"]
    )
    assert codes(result) == [250, 220, 250, 250, 250]


def test_k14_plain_rcpt_accepted_on_25() -> None:
    result = probe(
        "inbox",
        address=MX1,
        port=25,
        steps=[["ehlo", None], ["mail", SENDER], ["rcpt", "<ann@alpha.test>"]],
    )
    assert codes(result) == [250, 250, 250]


@pytest.mark.parametrize("version", ["TLSv1", "TLSv1_1"])
@pytest.mark.parametrize("port", [25, 587])
def test_old_protocol_rejected_by_server(version: str, port: int) -> None:
    # Without SECLEVEL=0, Python on OpenSSL 3 has no cipher for TLS 1.0 or
    # 1.1 and fails before it sends anything. With it, the failure below is
    # the server's "protocol version" alert.
    start = MX1_LOG.stat().st_size
    result = probe(
        "inbox",
        address=MX1,
        port=port,
        tls_versions=[version, version],
        ciphers="DEFAULT@SECLEVEL=0",
        steps=[["ehlo", None], ["starttls", None]],
    )
    assert "TLSV1_ALERT_PROTOCOL_VERSION" in result["error"]
    logged = {"TLSv1": "(TLSv1)", "TLSv1_1": "(TLSv1.1)"}[version]
    line = wait_for_log(MX1_LOG, start, f"(SSL_accept): {logged}")
    assert "TLS error on connection from (probe.inbox.test) [192.0.2.30]" in line


def test_old_protocol_rejected_on_465() -> None:
    result = probe(
        "inbox",
        address=MX1,
        port=465,
        mode="tls",
        tls_versions=["TLSv1", "TLSv1_1"],
        ciphers="DEFAULT@SECLEVEL=0",
    )
    assert "TLSV1_ALERT_PROTOCOL_VERSION" in result["error"]


def test_tls12_client_accepted() -> None:
    result = probe(
        "inbox",
        address=MX1,
        port=25,
        server_hostname=MX1_NAME,
        ca_file=LAB_CA,
        tls_versions=["TLSv1_2", "TLSv1_2"],
        steps=[["ehlo", None], ["starttls", None]],
    )
    assert "error" not in result, result.get("error")
    assert result["replies"][1]["version"] == "TLSv1.2"


@pytest.mark.parametrize("name", ["mx1", "relay"])
def test_verify_tls_checks_over_ssh(name: str) -> None:
    site = lab_site(find_host(name))
    result = run_checks(site, f"ssh://{name}", "tls", SSH_CONFIG)
    assert result.failed == 0, result.evidence
    assert result.passed == 3
    assert "port 25 (STARTTLS): TLSv1.3" in result.evidence
    assert "port 465 (TLS on connect): TLSv1.3" in result.evidence
    assert "port 587 (STARTTLS): TLSv1.3" in result.evidence
    assert f"port 465: certificate for {site.host.name}" in result.evidence
    assert "issued by CN=eximctl lab CA" in result.evidence
    assert "port 587: TLSv1_1 rejected by the server" in result.evidence
