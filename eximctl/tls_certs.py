"""TLS server certificates: self-signed, or issued by the lab CA.

Every certificate is valid for one year and signed with SHA-256. A host
certificate names the host in subjectAltName as a dNSName, because clients
match that and ignore the subject CN when a SAN is present (RFC 6125
section 6.4.4).
"""

from __future__ import annotations

import datetime
import logging
from importlib import resources
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from eximctl.errors import KeyFileError, SiteError
from eximctl.key_files import PRIVATE_MODE, PUBLIC_MODE, write_file
from eximctl.lab_sites import is_bundled_lab_site
from eximctl.site import Site

log = logging.getLogger(__name__)

VALIDITY = datetime.timedelta(days=365)
# A certificate that expires within this time is replaced by ensure_certificate.
RENEW_BEFORE = datetime.timedelta(days=30)
# Backdating covers clocks that run a little behind on the lab hosts.
CLOCK_SKEW = datetime.timedelta(minutes=5)
CA_NAME = "eximctl lab CA"
CA_MODE = 0o600

KeyType = Literal["rsa", "ecdsa"]
CertificateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def certificate_paths(site: Site) -> tuple[Path, Path]:
    """Return the (certificate, key) paths of the site's TLS server certificate.

    These are tls.certificate and tls.key when set, else
    ETC/tls/HOST.crt and ETC/tls/HOST.key for a generated certificate.
    """
    if site.tls.certificate:
        return site.resolve(site.tls.certificate), site.resolve(site.tls.key)
    base = Path(site.etc_directory) / "tls" / site.host.name
    return base.with_name(f"{base.name}.crt"), base.with_name(f"{base.name}.key")


def ensure_certificate(
    site: Site, ca: tuple[Path, Path] | None = None
) -> tuple[Path, Path]:
    """Generate the site's server certificate unless a usable one exists.

    A certificate is kept when it names site.host.name, expires more than 30
    days from now, matches its key and, with ``ca`` (certificate, key), was
    issued by that CA. Otherwise a new one is written: signed by ``ca``, or
    self-signed without it. A new certificate keeps the existing key, so a
    TLSA record of the public key stays valid. A bundled lab site always
    gets its packaged key (see bundled_lab_tls_key). Returns the
    (certificate, key) paths.
    """
    cert_path, key_path = certificate_paths(site)
    if site.tls.certificate:
        _load_certificate(cert_path)
        return cert_path, key_path
    if not site.tls.generate:
        raise SiteError(
            "tls.generate",
            "no certificate to use; set tls.certificate and tls.key, or "
            "tls.generate = true",
        )
    ca_cert = _load_certificate(ca[0]) if ca else None
    lab_key = bundled_lab_tls_key(site)
    key = load_tls_key(lab_key) if lab_key else _existing_key(key_path)
    usable = _is_usable(cert_path, key_path, site.host.name, ca_cert)
    if usable and _holds_key(key_path, key):
        log.info("kept the valid certificate %s", cert_path)
        return cert_path, key_path
    issue_certificate(
        site.host.name, cert_path, key_path, site.build.group, ca=ca, key=key
    )
    return cert_path, key_path


def bundled_lab_tls_key(site: Site) -> Path | None:
    """Return the packaged test-only TLS key of a bundled lab site, if any.

    The committed lab zones publish TLSA records of these keys, and CI must
    rebuild those zones byte for byte where no lab certificate exists yet.
    They are public and must never serve real mail.
    """
    if not is_bundled_lab_site(site):
        return None
    name = f"{site.host.name.lower().rstrip('.')}.tls.pem"
    key = Path(str(resources.files("eximctl") / "lab_keys" / name))
    return key if key.is_file() else None


def load_tls_key(path: Path) -> CertificateKey:
    """Load an unencrypted RSA or ECDSA private key from a PEM file."""
    return _load_key(path)


def create_ca(directory: Path, group: str = "root") -> tuple[Path, Path]:
    """Create the lab CA in ``directory`` as ca.crt and ca.key; return both.

    An existing CA that expires more than 30 days from now is kept, so host
    certificates issued by it stay valid. The CA key is 0600: only root signs.
    """
    cert_path, key_path = directory / "ca.crt", directory / "ca.key"
    if _is_usable_ca(cert_path, key_path):
        return cert_path, key_path
    key = _new_key("rsa")
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CA_NAME)])
    public = key.public_key()
    certificate = (
        _builder(name, name, public)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_ca_key_usage(), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), False)
        .sign(key, hashes.SHA256())
    )
    write_file(key_path, _key_pem(key), CA_MODE, group, overwrite=True)
    write_file(cert_path, _cert_pem(certificate), PUBLIC_MODE, group, overwrite=True)
    log.info("created the lab CA %s", cert_path)
    return cert_path, key_path


def issue_certificate(
    host_name: str,
    cert_path: Path,
    key_path: Path,
    group: str,
    *,
    ca: tuple[Path, Path] | None = None,
    key_type: KeyType = "rsa",
    key: CertificateKey | None = None,
) -> None:
    """Write a server certificate for ``host_name`` and its key.

    The certificate is for ``key``, or for a new key of ``key_type`` without
    it. It is signed by ``ca`` (certificate, key) or, without it,
    self-signed. The key is written root:``group`` 0640 and the certificate
    0644, both replacing existing files.
    """
    key = key or _new_key(key_type)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host_name)])
    issuer, signing_key = subject, key
    if ca is not None:
        issuer_cert = _load_certificate(ca[0])
        issuer, signing_key = issuer_cert.subject, _load_key(ca[1])
    certificate = (
        _server_extensions(_builder(subject, issuer, key.public_key()), host_name, key)
        .add_extension(_authority_key_id(signing_key), critical=False)
        .sign(signing_key, hashes.SHA256())
    )
    write_file(key_path, _key_pem(key), PRIVATE_MODE, group, overwrite=True)
    write_file(cert_path, _cert_pem(certificate), PUBLIC_MODE, group, overwrite=True)
    log.info("issued a certificate for %s at %s", host_name, cert_path)


def certificate_host_names(certificate: x509.Certificate) -> list[str]:
    """Return the dNSName entries of the certificate's subjectAltName."""
    try:
        san = certificate.extensions.get_extension_for_class(
            x509.SubjectAlternativeName
        )
    except x509.ExtensionNotFound:
        return []
    return [name.lower() for name in san.value.get_values_for_type(x509.DNSName)]


def _builder(
    subject: x509.Name, issuer: x509.Name, public: object
) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public)  # type: ignore[arg-type]
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(now + VALIDITY)
    )


def _server_extensions(
    builder: x509.CertificateBuilder, host_name: str, key: CertificateKey
) -> x509.CertificateBuilder:
    # RSA key exchange in TLS 1.2 needs keyEncipherment; ECDSA keys only sign.
    usage = x509.KeyUsage(
        digital_signature=True,
        key_encipherment=isinstance(key, rsa.RSAPrivateKey),
        content_commitment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )
    # clientAuth too: Exim presents the same certificate to a smarthost.
    purposes = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    public = key.public_key()
    return (
        builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
        .add_extension(usage, critical=True)
        .add_extension(x509.ExtendedKeyUsage(purposes), critical=False)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host_name)]), False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), False)
    )


def _ca_key_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=False,
        key_encipherment=False,
        content_commitment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )


def _authority_key_id(signing_key: CertificateKey) -> x509.AuthorityKeyIdentifier:
    return x509.AuthorityKeyIdentifier.from_issuer_public_key(signing_key.public_key())


def _new_key(key_type: KeyType) -> CertificateKey:
    if key_type == "ecdsa":
        return ec.generate_private_key(ec.SECP256R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _is_usable(
    cert_path: Path, key_path: Path, host_name: str, ca: x509.Certificate | None
) -> bool:
    if not cert_path.is_file() or not key_path.is_file():
        return False
    try:
        certificate = _load_certificate(cert_path)
        key = _load_key(key_path)
    except KeyFileError as exc:
        log.warning("replacing the certificate: %s", exc)
        return False
    if host_name.lower() not in certificate_host_names(certificate):
        return False
    if not _expires_later(certificate) or not _matches(certificate, key):
        return False
    return ca is None or _issued_by(certificate, ca)


def _holds_key(path: Path, key: CertificateKey | None) -> bool:
    return key is None or _load_key(path).public_key() == key.public_key()


def _existing_key(path: Path) -> CertificateKey | None:
    if not path.is_file():
        return None
    try:
        return _load_key(path)
    except KeyFileError as exc:
        log.warning("writing a new key: %s", exc)
        return None


def _is_usable_ca(cert_path: Path, key_path: Path) -> bool:
    if not cert_path.is_file() or not key_path.is_file():
        return False
    certificate = _load_certificate(cert_path)
    try:
        constraints = certificate.extensions.get_extension_for_class(
            x509.BasicConstraints
        )
    except x509.ExtensionNotFound:
        return False
    key = _load_key(key_path)
    return (
        constraints.value.ca
        and _expires_later(certificate)
        and _matches(certificate, key)
    )


def _expires_later(certificate: x509.Certificate) -> bool:
    now = datetime.datetime.now(datetime.UTC)
    return certificate.not_valid_after_utc > now + RENEW_BEFORE


def _matches(certificate: x509.Certificate, key: CertificateKey) -> bool:
    return certificate.public_key() == key.public_key()


def _issued_by(certificate: x509.Certificate, ca: x509.Certificate) -> bool:
    try:
        certificate.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _load_certificate(path: Path) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except FileNotFoundError:
        raise KeyFileError(path, "certificate not found") from None
    except ValueError as exc:
        raise KeyFileError(path, f"not a PEM certificate ({exc})") from None


def _load_key(path: Path) -> CertificateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except FileNotFoundError:
        raise KeyFileError(path, "key not found") from None
    except PermissionError:
        raise KeyFileError(path, "key not readable; run eximctl as root") from None
    except (ValueError, TypeError) as exc:
        raise KeyFileError(path, f"not an unencrypted PEM key ({exc})") from None
    if not isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
        raise KeyFileError(path, "TLS keys must be RSA or ECDSA")
    return key


def _key_pem(key: CertificateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _cert_pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)
