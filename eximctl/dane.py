"""TLSA records for DANE: derived from each host's TLS key, and checked.

A site with tls.dane = true publishes "_25._tcp.HOST. TLSA 3 1 1 DIGEST":
usage DANE-EE (3), selector SubjectPublicKeyInfo (1), matching type SHA-256
(1). The digest depends only on the key, never on the certificate, so a
certificate renewed for the same key needs no change in DNS. That is also
why the committed lab zones can carry TLSA records: the bundled lab sites
use fixed, packaged keys (see tls_certs.bundled_lab_tls_key).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
from cryptography.hazmat.primitives import serialization

from eximctl.errors import ZoneError
from eximctl.site import Site
from eximctl.tls_certs import bundled_lab_tls_key, certificate_paths, load_tls_key

SMTP_PORT = 25
DANE_TA = 2
DANE_EE = 3
SELECTOR_CERTIFICATE = 0
SELECTOR_SPKI = 1
MATCHING_FULL = 0
MATCHING_SHA256 = 1
MATCHING_SHA512 = 2
_PORT_LABEL = re.compile(rb"^_[0-9]{1,5}$")


def tlsa_name(host: str, port: int = SMTP_PORT) -> str:
    """Return the fully qualified TLSA owner name of ``host`` and ``port``."""
    return f"_{port}._tcp.{host.lower().rstrip('.')}."


def tlsa_key_files(sites: list[Site], key_root: Path | None = None) -> dict[str, Path]:
    """Map the TLSA record name of each DANE site to its TLS private key.

    ``key_root`` is prefixed to the key paths, as for DKIM keys. Raises
    ZoneError when the key of a site does not exist yet.
    """
    keys: dict[str, Path] = {}
    for site in sites:
        if site.tls.dane:
            keys[tlsa_name(site.host.name)] = tlsa_key_path(site, key_root)
    return keys


def tlsa_key_path(site: Site, key_root: Path | None = None) -> Path:
    """Return the key whose public half the TLSA record of ``site`` hashes."""
    lab_key = bundled_lab_tls_key(site)
    if lab_key is not None:
        return lab_key
    _, key = certificate_paths(site)
    if key_root is not None:
        key = key_root / key.relative_to(key.anchor)
    if not key.is_file():
        raise ZoneError(
            f"{tlsa_name(site.host.name)} TLSA",
            f"the TLS key {key} does not exist yet; run 'eximctl configure' "
            "first, which creates it (or set tls.key), then 'eximctl zones'",
        )
    return key


def spki_sha256(key_path: Path) -> bytes:
    """Return the SHA-256 digest of the DER SubjectPublicKeyInfo of a key."""
    public = load_tls_key(key_path).public_key()
    der = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).digest()


def tlsa_rdata(key_path: Path) -> dns.rdata.Rdata:
    """Return the "3 1 1" TLSA rdata of the key in ``key_path``."""
    text = f"{DANE_EE} {SELECTOR_SPKI} {MATCHING_SHA256} {spki_sha256(key_path).hex()}"
    return dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.TLSA, text)


def tlsa_problem(name: dns.name.Name, rdata: dns.rdata.Rdata) -> str | None:
    """Check a TLSA record's owner name, usage, selector and matching type.

    The usages, selectors and matching types accepted are those that Exim
    4.96 uses for DANE (src/tls-openssl.c).
    NOTE: the digest length is left to dnspython: 2.9 rejects a SHA-256 or
    SHA-512 digest of the wrong length when it parses the zone file.
    """
    labels = name.labels
    if (
        len(labels) < 3
        or not _PORT_LABEL.match(labels[0])
        or labels[1].lower() != b"_tcp"
    ):
        return (
            f"the owner name {name} is not of the form _PORT._tcp.HOST, so no "
            "client looks it up; use _25._tcp.HOST for SMTP"
        )
    usage: int = rdata.usage  # type: ignore[attr-defined]
    selector: int = rdata.selector  # type: ignore[attr-defined]
    mtype: int = rdata.mtype  # type: ignore[attr-defined]
    if usage not in (DANE_TA, DANE_EE):
        return (
            f"certificate usage {usage} is not DANE-TA (2) or DANE-EE (3), so "
            "Exim 4.96 skips the record for DANE; publish 3 1 1"
        )
    if selector not in (SELECTOR_CERTIFICATE, SELECTOR_SPKI):
        return (
            f"selector {selector} is neither 0 (full certificate) nor 1 "
            "(SubjectPublicKeyInfo)"
        )
    if mtype not in (MATCHING_FULL, MATCHING_SHA256, MATCHING_SHA512):
        return (
            f"matching type {mtype} is none of 0 (exact data), 1 (SHA-256) or "
            "2 (SHA-512)"
        )
    return None
