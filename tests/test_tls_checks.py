"""The TLS checks of 'eximctl verify': certificate findings and real runs.

The real runs start an Exim daemon on 127.0.0.1 inside a network namespace
of its own (``unshare --net``) and run the checks in that namespace with
testinfra's local backend, so nothing leaves the loopback interface.
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from eximctl.checks.check_tls import (
    certificate_findings,
    port_mode,
    refused_versions,
    tls_ports,
)
from eximctl.files import render_configure
from eximctl.key_files import PRIVATE_MODE, PUBLIC_MODE, write_file
from eximctl.site import Site, load_site, parse_site
from eximctl.verify import run_checks

HOST = "mail.checks.test"
NOW = datetime.datetime(2026, 6, 1, tzinfo=datetime.UTC)
EXIM = Path("/opt/eximctl/bin/exim")

SITE = """
accounts = ["ann"]
[host]
name = "{host}"
[build]
prefix = "/opt/eximctl"
config_directory = "{root}/etc"
spool_directory = "{root}/spool"
log_directory = "{root}/log"
[daemon]
ports = [2525, 2465]
tls_on_connect_ports = [2465]
interfaces = ["127.0.0.1"]
relay_from_hosts = []
[delivery]
mail_directory = "{root}/mail"
[spf]
check = false
[tls]
certificate = "{root}/cert.pem"
key = "{root}/key.pem"
min_version = "{version}"
[[domains]]
name = "checks.test"
"""

# Runs inside the new namespace: loopback up, Exim in the foreground, the
# TLS checks through run_checks, then Exim is stopped.
NAMESPACE_SCRIPT = r"""
import json, socket, subprocess, sys, time
from pathlib import Path
from eximctl.site import load_site
from eximctl.verify import run_checks
site_path, output = Path(sys.argv[1]), Path(sys.argv[2])
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
site = load_site(site_path)
daemon = subprocess.Popen([site.exim_binary, "-C", site.configure_file, "-bdf"])
try:
    deadline = time.monotonic() + 10
    for port in site.daemon.ports:
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
    result = run_checks(site, "local://", "tls")
    output.write_text(json.dumps(result.__dict__))
finally:
    daemon.terminate()
    daemon.wait(10)
"""


def make_certificate(
    names: list[str], not_before: datetime.datetime, not_after: datetime.datetime
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    san = x509.SubjectAlternativeName([x509.DNSName(n) for n in names])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(san, critical=False)
        .sign(key, hashes.SHA256())
    )
    return certificate, key


def der(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.DER)


def certificate_valid_for(days: float, names: list[str] | None = None) -> bytes:
    start = NOW - datetime.timedelta(days=90)
    end = NOW + datetime.timedelta(days=days)
    return der(make_certificate(names or [HOST], start, end)[0])


def test_certificate_valid_a_year() -> None:
    findings = certificate_findings(certificate_valid_for(365), HOST, NOW)
    assert findings.errors == []
    assert findings.warnings == []
    assert f"certificate for {HOST}" in findings.summary
    assert "365 days left" in findings.summary


def test_certificate_expiring_warns() -> None:
    findings = certificate_findings(certificate_valid_for(10), HOST, NOW)
    assert findings.errors == []
    assert len(findings.warnings) == 1
    assert "in 10 days" in findings.warnings[0]
    assert "renew it" in findings.warnings[0]


def test_certificate_29_days_warns_31_not() -> None:
    assert certificate_findings(certificate_valid_for(29), HOST, NOW).warnings
    assert not certificate_findings(certificate_valid_for(31), HOST, NOW).warnings


def test_certificate_expired_fails() -> None:
    findings = certificate_findings(certificate_valid_for(-2), HOST, NOW)
    assert findings.errors == ["the certificate expired on 2026-05-30"]
    assert findings.warnings == []


def test_certificate_other_name_fails() -> None:
    findings = certificate_findings(
        certificate_valid_for(365, ["mx.other.test"]), HOST, NOW
    )
    assert findings.errors == [f"the certificate names ['mx.other.test'], not {HOST}"]


def test_certificate_not_yet_valid_fails() -> None:
    start = NOW + datetime.timedelta(days=2)
    certificate, _ = make_certificate([HOST], start, start + datetime.timedelta(90))
    findings = certificate_findings(der(certificate), HOST, NOW)
    assert findings.errors == ["the certificate is not valid yet"]


def test_refused_versions_follow_floor() -> None:
    site = parse_site(SITE.format(host=HOST, root="/nonexistent", version="TLSv1.2"))
    assert refused_versions(site) == ["TLSv1", "TLSv1_1"]
    site = parse_site(SITE.format(host=HOST, root="/nonexistent", version="TLSv1.3"))
    assert refused_versions(site) == ["TLSv1", "TLSv1_1", "TLSv1_2"]


def test_ports_and_modes() -> None:
    site = parse_site(SITE.format(host=HOST, root="/nonexistent", version="TLSv1.2"))
    assert tls_ports(site) == [2525, 2465]
    assert port_mode(site, 2525) == "starttls"
    assert port_mode(site, 2465) == "tls"


def test_no_tls_feature_no_ports() -> None:
    site = parse_site(
        """
accounts = ["ann"]
[host]
name = "mail.checks.test"
[build]
features = ["dkim"]
[[domains]]
name = "checks.test"
"""
    )
    assert tls_ports(site) == []


@pytest.fixture
def check_root() -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.fail("this test starts an Exim daemon and must run as root")
    if not EXIM.is_file():
        pytest.fail(f"{EXIM} is missing; run 'eximctl build' first")
    root = Path(tempfile.mkdtemp(prefix="eximctl-tls-checks-", dir="/var/tmp"))
    os.chmod(root, 0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


def run_checks_in_namespace(root: Path, days: float, version: str) -> Any:
    """Write a site with a certificate valid for ``days``; run its TLS checks."""
    now = datetime.datetime.now(datetime.UTC)
    certificate, key = make_certificate(
        [HOST], now - datetime.timedelta(hours=1), now + datetime.timedelta(days)
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    write_file(root / "key.pem", key_pem, PRIVATE_MODE, "exim", overwrite=True)
    cert_pem = certificate.public_bytes(serialization.Encoding.PEM)
    write_file(root / "cert.pem", cert_pem, PUBLIC_MODE, "exim", overwrite=True)

    site_path = root / "site.toml"
    site_path.write_text(SITE.format(host=HOST, root=root, version=version))
    site = load_site(site_path)
    for directory in (site.spool_directory, site.log_directory):
        Path(directory).mkdir(parents=True)
        shutil.chown(directory, "exim", "exim")
    Path(site.etc_directory).mkdir()
    Path(site.configure_file).write_text(render_configure(site))

    output = root / "result.json"
    completed = subprocess.run(
        ["unshare", "--net", sys.executable, "-c", NAMESPACE_SCRIPT]
        + [str(site_path), str(output)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    return json.loads(output.read_text()), completed.stdout


@pytest.mark.exim
def test_checks_pass_and_report_ports(check_root: Path) -> None:
    result, printed = run_checks_in_namespace(check_root, 200, "TLSv1.2")
    assert result["failed"] == 0, printed
    assert result["passed"] == 3
    evidence = result["evidence"]
    assert "port 2525 (STARTTLS): TLSv1.3" in evidence
    assert "port 2465 (TLS on connect): TLSv1.3" in evidence
    assert f"port 2465: certificate for {HOST}" in evidence
    assert "port 2525: TLSv1 rejected by the server" in evidence
    assert "port 2465: TLSv1_1 rejected by the server" in evidence
    assert "WARN" not in printed


@pytest.mark.exim
def test_checks_warn_on_expiring_certificate(check_root: Path) -> None:
    result, printed = run_checks_in_namespace(check_root, 10, "TLSv1.2")
    assert result["failed"] == 0, printed
    assert "WARNING: the certificate of mail.checks.test expires" in result["evidence"]
    assert "WARN  local: tls certificate valid: the certificate" in printed
    assert "PASS  local: tls certificate valid" in printed


@pytest.mark.exim
def test_checks_tls13_floor_rejects_tls12(check_root: Path) -> None:
    result, printed = run_checks_in_namespace(check_root, 200, "TLSv1.3")
    assert result["failed"] == 0, printed
    assert "port 2525: TLSv1_2 rejected by the server" in result["evidence"]
    assert "port 2465: TLSv1_2 rejected by the server" in result["evidence"]


@pytest.mark.exim
def test_site_daemon_tls_checks(running_site: Site) -> None:
    result = run_checks(running_site, "local://", "tls")
    assert result.failed == 0, result.evidence
    assert result.passed == 3
    assert "port 2525 (STARTTLS): TLSv1." in result.evidence
    assert "port 2465 (TLS on connect): TLSv1." in result.evidence
    assert f"certificate for {running_site.host.name}" in result.evidence
