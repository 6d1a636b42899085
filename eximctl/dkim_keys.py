"""DKIM signing keys: one private key file per domain and selector.

The DNS record is always derived from the private key file, never stored
apart from it, so the published ``p=`` cannot drift from the key Exim signs
with.
"""

from __future__ import annotations

import base64
import logging
from importlib import resources
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from eximctl.errors import GroupNotFoundError, KeyFileError, SiteError
from eximctl.key_files import PRIVATE_MODE, write_file
from eximctl.site import DkimSection, Site

log = logging.getLogger(__name__)

# RFC 8301 requires signers to use RSA keys of at least 1024 bits.
MIN_RSA_BITS = 1024
MAX_RSA_BITS = 4096
RSA_PUBLIC_EXPONENT = 65537

PrivateKey = rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey


def dkim_domains(site: Site) -> list[str]:
    """Return the domains that ``site`` signs: dkim.domains, else its own ones.

    Without a dkim.domains list a host signs for every local and virtual
    domain, never for domains it is only the backup MX of.
    """
    if site.dkim is None:
        return []
    if site.dkim.domains:
        return [d.lower().rstrip(".") for d in site.dkim.domains]
    return [
        d.name.lower().rstrip(".")
        for d in site.domains
        if d.kind in ("local", "virtual")
    ]


def dkim_key_path(site: Site, domain: str, root: Path | None = None) -> Path:
    """Return the private key file of ``domain`` for the site's selector.

    ``root`` is prefixed to the path, as DESTDIR is for an install, so tests
    and staging trees never touch the live key.
    """
    dkim = _dkim_section(site)
    if dkim.key_directory:
        directory = site.resolve(dkim.key_directory)
    else:
        directory = Path(site.etc_directory) / "dkim"
    path = directory / f"{domain.lower().rstrip('.')}.{dkim.selector}.pem"
    if root is None:
        return path
    return root / path.relative_to(path.anchor)


def bundled_lab_key(site: Site, domain: str) -> Path | None:
    """Return the packaged test-only key of a bundled lab site, if there is one.

    The lab's committed zone files publish the public half of these keys, and
    CI must rebuild those files byte for byte on a machine where no lab key was
    ever generated. So the lab uses fixed keys shipped in eximctl/lab_keys
    instead of fresh ones. They are public and must never sign real mail.
    """
    lab_sites = Path(str(resources.files("eximctl") / "sites" / "lab"))
    if site.path.resolve().parent != lab_sites.resolve():
        return None
    selector = _dkim_section(site).selector
    name = f"{domain.lower().rstrip('.')}.{selector}.pem"
    key = Path(str(resources.files("eximctl") / "lab_keys" / name))
    return key if key.is_file() else None


def ensure_dkim_key(
    site: Site, domain: str, *, root: Path | None = None, rotate: bool = False
) -> Path:
    """Create the DKIM key of ``domain`` unless it exists; return its path.

    A bundled lab site gets its packaged lab key installed instead of a new
    one. With ``rotate`` a fresh key replaces the existing file, and the DNS
    record must then be published again before mail is signed with it.
    """
    path = dkim_key_path(site, domain, root)
    if path.exists() and not rotate:
        return path
    group = site.build.group
    lab_key = bundled_lab_key(site, domain)
    if lab_key is not None and not rotate:
        write_file(path, lab_key.read_bytes(), PRIVATE_MODE, group)
        log.info("installed the lab DKIM key of %s at %s", domain, path)
        return path
    dkim = _dkim_section(site)
    generate_dkim_key(path, dkim.key_type, dkim.bits, group, overwrite=rotate)
    return path


def dkim_key_for_record(site: Site, domain: str, root: Path | None = None) -> Path:
    """Return the key file whose public half the DNS record of ``domain`` holds.

    This is the installed key, created if missing. When a bundled lab key
    cannot be installed yet because the Exim group does not exist, the
    packaged copy is returned, because it is the same key the lab installs
    later.
    """
    try:
        return ensure_dkim_key(site, domain, root=root)
    except GroupNotFoundError as exc:
        lab_key = bundled_lab_key(site, domain)
        if lab_key is None:
            raise
        log.warning("%s; the zone uses the packaged lab key meanwhile", exc)
        return lab_key


def find_dkim_key(site: Site, domain: str, root: Path | None = None) -> Path | None:
    """Return the installed key of ``domain``, else a bundled lab key, else None.

    Unlike dkim_key_for_record this never creates a key, so checks can use it.
    """
    path = dkim_key_path(site, domain, root)
    if path.exists():
        return path
    return bundled_lab_key(site, domain)


def generate_dkim_key(
    path: Path, key_type: str, bits: int, group: str, *, overwrite: bool = False
) -> None:
    """Write a new DKIM private key (PKCS#8 PEM) to ``path``, mode 0640."""
    key: PrivateKey
    if key_type == "ed25519":
        key = ed25519.Ed25519PrivateKey.generate()
    elif key_type == "rsa":
        _check_bits(bits)
        key = rsa.generate_private_key(RSA_PUBLIC_EXPONENT, bits)
    else:
        raise SiteError("dkim.key_type", f"invalid key type {key_type!r}")
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    write_file(path, pem, PRIVATE_MODE, group, overwrite=overwrite)
    log.info("generated a %s DKIM key at %s", key_type, path)


def dkim_txt_value(path: Path) -> str:
    """Return the DKIM TXT record value for the private key in ``path``.

    RSA keys publish the DER SubjectPublicKeyInfo (RFC 6376 section 3.6.1);
    ed25519 keys publish the raw 32-byte public key (RFC 8463).
    """
    key = load_dkim_key(path)
    if isinstance(key, ed25519.Ed25519PrivateKey):
        raw = key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return f"v=DKIM1; k=ed25519; p={base64.b64encode(raw).decode()}"
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return f"v=DKIM1; k=rsa; p={base64.b64encode(der).decode()}"


def load_dkim_key(path: Path) -> PrivateKey:
    """Load an unencrypted RSA or ed25519 private key from a PEM file."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise KeyFileError(path, "DKIM key not found") from None
    except PermissionError:
        raise KeyFileError(path, "DKIM key not readable; run as root") from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise KeyFileError(
            path, f"not an unencrypted PEM private key ({exc})"
        ) from None
    if not isinstance(key, (rsa.RSAPrivateKey, ed25519.Ed25519PrivateKey)):
        raise KeyFileError(path, "DKIM keys must be RSA or ed25519")
    return key


def _check_bits(bits: int) -> None:
    if not MIN_RSA_BITS <= bits <= MAX_RSA_BITS:
        raise SiteError(
            "dkim.bits",
            f"invalid RSA key size {bits}; use {MIN_RSA_BITS} to {MAX_RSA_BITS} "
            "(2048 is the usual choice)",
        )


def _dkim_section(site: Site) -> DkimSection:
    if site.dkim is None:
        raise SiteError("dkim", f"{site.path} has no [dkim] section")
    return site.dkim
