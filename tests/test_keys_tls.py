"""TLS certificates: SAN, CA signature, modes, and when they are replaced."""

from __future__ import annotations

import datetime
import grp
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from eximctl.site import Site, parse_site
from eximctl.tls_certs import (
    certificate_host_names,
    certificate_paths,
    create_ca,
    ensure_certificate,
    issue_certificate,
)

GROUP = "mail"
HOST = "mail.example.org"


def make_site(tmp_path: Path, host: str = HOST) -> Site:
    text = f"""
accounts = ["ann"]
[aliases]
postmaster = "ann"
abuse = "ann"
[host]
name = "{host}"
[build]
group = "{GROUP}"
config_directory = "{tmp_path}/etc"
[[domains]]
name = "example.org"
kind = "local"
"""
    return parse_site(text, tmp_path / "site.toml")


def load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_default_paths(tmp_path: Path) -> None:
    cert, key = certificate_paths(make_site(tmp_path))
    assert cert == tmp_path / "etc" / "tls" / f"{HOST}.crt"
    assert key == tmp_path / "etc" / "tls" / f"{HOST}.key"


def test_self_signed_san_and_modes(tmp_path: Path) -> None:
    cert_path, key_path = ensure_certificate(make_site(tmp_path))
    certificate = load(cert_path)
    assert certificate_host_names(certificate) == [HOST]
    assert certificate.issuer == certificate.subject
    certificate.verify_directly_issued_by(certificate)
    assert certificate.signature_hash_algorithm is not None
    assert certificate.signature_hash_algorithm.name == "sha256"
    lifetime = certificate.not_valid_after_utc - certificate.not_valid_before_utc
    assert datetime.timedelta(days=365) <= lifetime <= datetime.timedelta(days=366)
    gid = grp.getgrnam(GROUP).gr_gid
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o640
    assert key_path.stat().st_gid == gid
    assert key_path.stat().st_uid == 0
    assert stat.S_IMODE(cert_path.stat().st_mode) == 0o644


def test_ca_signs_host_certificate(tmp_path: Path) -> None:
    ca = create_ca(tmp_path / "ca")
    ca_cert = load(ca[0])
    constraints = ca_cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.value.ca is True
    assert stat.S_IMODE(ca[1].stat().st_mode) == 0o600
    cert_path, _ = ensure_certificate(make_site(tmp_path), ca=ca)
    certificate = load(cert_path)
    assert certificate.issuer == ca_cert.subject
    certificate.verify_directly_issued_by(ca_cert)
    assert certificate_host_names(certificate) == [HOST]


def test_other_ca_signature_fails(tmp_path: Path) -> None:
    ca = create_ca(tmp_path / "ca")
    other = create_ca(tmp_path / "other")
    cert_path, _ = ensure_certificate(make_site(tmp_path), ca=ca)
    with pytest.raises(InvalidSignature):
        load(cert_path).verify_directly_issued_by(load(other[0]))


def test_existing_ca_is_kept(tmp_path: Path) -> None:
    ca = create_ca(tmp_path / "ca")
    before = ca[0].read_bytes()
    assert create_ca(tmp_path / "ca") == ca
    assert ca[0].read_bytes() == before


def test_valid_certificate_is_kept(tmp_path: Path) -> None:
    site = make_site(tmp_path)
    cert_path, _ = ensure_certificate(site)
    before = cert_path.read_bytes()
    ensure_certificate(site)
    assert cert_path.read_bytes() == before


def test_other_host_certificate_replaced(tmp_path: Path) -> None:
    cert_path, key_path = certificate_paths(make_site(tmp_path))
    issue_certificate("old.example.org", cert_path, key_path, GROUP)
    ensure_certificate(make_site(tmp_path))
    assert certificate_host_names(load(cert_path)) == [HOST]


def test_replaced_certificate_keeps_key(tmp_path: Path) -> None:
    # A TLSA record of the public key (selector 1) must survive a renewal.
    cert_path, key_path = certificate_paths(make_site(tmp_path))
    issue_certificate("old.example.org", cert_path, key_path, GROUP)
    old_key = key_path.read_bytes()
    old_public = load(cert_path).public_key()
    ensure_certificate(make_site(tmp_path))
    assert certificate_host_names(load(cert_path)) == [HOST]
    assert key_path.read_bytes() == old_key
    assert load(cert_path).public_key() == old_public


def test_expiring_certificate_replaced(tmp_path: Path) -> None:
    site = make_site(tmp_path)
    cert_path, key_path = ensure_certificate(site)
    key = serialization.load_pem_private_key(key_path.read_bytes(), None)
    assert isinstance(key, rsa.RSAPrivateKey)
    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)])
    short = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=10))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(HOST)]), False)
        .sign(key, hashes.SHA256())
    )
    cert_path.write_bytes(short.public_bytes(serialization.Encoding.PEM))
    ensure_certificate(site)
    renewed = load(cert_path)
    assert renewed.serial_number != 1
    assert renewed.not_valid_after_utc > now + datetime.timedelta(days=300)


def test_self_signed_replaced_when_ca_given(tmp_path: Path) -> None:
    site = make_site(tmp_path)
    cert_path, _ = ensure_certificate(site)
    ca = create_ca(tmp_path / "ca")
    ensure_certificate(site, ca=ca)
    load(cert_path).verify_directly_issued_by(load(ca[0]))
