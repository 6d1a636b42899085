"""The values that the runtime templates see, derived from a Site."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eximctl.site import DomainSection, Site
from eximctl.tls_certs import certificate_paths

# OpenSSL options that set the protocol floor; SSLv2 and SSLv3 are always off.
_PROTOCOL_FLOOR = {
    "TLSv1.2": "+no_sslv2 +no_sslv3 +no_tlsv1 +no_tlsv1_1",
    "TLSv1.3": "+no_sslv2 +no_sslv3 +no_tlsv1 +no_tlsv1_1 +no_tlsv1_2",
}


@dataclass(frozen=True)
class TlsContext:
    """Server TLS settings as the templates use them."""

    certificate: str
    key: str
    openssl_options: str
    ciphers: str


@dataclass(frozen=True)
class SmarthostContext:
    """Smarthost settings as the templates use them."""

    host: str
    port: int
    protocol: str
    tls: bool
    ca_certificate: str
    user_exim: str
    password_file: str
    allow_plaintext_auth: bool


@dataclass(frozen=True)
class DkimContext:
    """DKIM signing settings as the templates use them."""

    selector: str
    keys_file: str


def qualify_domain(site: Site) -> str:
    """Return the domain that unqualified addresses get: the first local one."""
    return site.domains_of_kind("local")[0].name


def tls_paths(site: Site) -> tuple[str, str] | None:
    """Return the server certificate and key paths, or None without TLS."""
    if "tls" not in site.build.features:
        return None
    if not (site.tls.certificate or site.tls.generate):
        return None
    certificate, key = certificate_paths(site)
    return str(certificate), str(key)


def smarthost_password_path(site: Site) -> str:
    """Return the path of the smarthost password file."""
    assert site.smarthost is not None
    return str(site.resolve(site.smarthost.password_file))


def dkim_keys_file(site: Site) -> str:
    """Return the lsearch file that maps each signing domain to its key path."""
    return f"{site.etc_directory}/dkim/keys"


def peer_mx_hosts(site: Site) -> list[str]:
    """Return the other MX hosts of the domains this host serves.

    Each host is given by the addresses that its MX entry in the site file
    lists, or by its name when the entry lists none.
    """
    own = {site.host.name.lower(), *site.host.addresses}
    peers: list[str] = []
    for domain in site.domains:
        for record in domain.mx:
            if record.host.lower() in own:
                continue
            for entry in record.addresses or (record.host,):
                if entry not in own and entry not in peers:
                    peers.append(entry)
    return peers


def template_context(site: Site) -> dict[str, Any]:
    """Return every value the runtime configuration templates use."""
    backups: list[DomainSection] = site.domains_of_kind("backup")
    tls = tls_paths(site)
    return {
        "site": site,
        "qualify_domain": qualify_domain(site),
        "local_domains": ["@", "localhost"]
        + [d.name for d in site.domains_of_kind("local")],
        "virtual_domains": [d.name for d in site.domains_of_kind("virtual")],
        "backup_domains": [d.name for d in backups],
        "backup_domains_full": backups,
        "peer_mx_hosts": peer_mx_hosts(site),
        "virtual_directory": f"{site.etc_directory}/virtual",
        "tls": _tls_context(site, tls) if tls else None,
        "tls_required_ports": [str(p) for p in site.tls.required_ports],
        "auth_server": site.auth if site.auth.passwords_file else None,
        "smarthost": _smarthost_context(site),
        "dkim": _dkim_context(site),
        "spf_check": "spf" in site.build.features and site.spf.check,
        "dkim_verify": "dkim" in site.build.features,
        "dane": site.tls.dane,
        "dane_built": "dane" in site.build.features,
    }


def _tls_context(site: Site, paths: tuple[str, str]) -> TlsContext:
    return TlsContext(
        certificate=paths[0],
        key=paths[1],
        openssl_options=_PROTOCOL_FLOOR[site.tls.min_version],
        ciphers=site.tls.ciphers,
    )


def _smarthost_context(site: Site) -> SmarthostContext | None:
    smarthost = site.smarthost
    if smarthost is None:
        return None
    # Port 465 speaks TLS from the first byte (RFC 8314); every other port
    # starts in plain text and upgrades with STARTTLS.
    protocol = "smtps" if smarthost.port == 465 else "smtp"
    return SmarthostContext(
        host=smarthost.host,
        port=smarthost.port,
        protocol=protocol,
        tls=smarthost.tls,
        ca_certificate=str(site.resolve(site.tls.ca_certificate))
        if site.tls.ca_certificate
        else "system",
        user_exim=_client_send_item(smarthost.user),
        password_file=smarthost_password_path(site),
        allow_plaintext_auth=smarthost.allow_plaintext_auth,
    )


def _dkim_context(site: Site) -> DkimContext | None:
    if site.dkim is None:
        return None
    return DkimContext(selector=site.dkim.selector, keys_file=dkim_keys_file(site))


def _client_send_item(value: str) -> str:
    """Quote a literal for one item of a "<|" client_send list.

    Exim splits the list, turning "||" into "|", before it expands the item.
    """
    return _escape_expansion(value).replace("|", "||")


def _escape_expansion(value: str) -> str:
    """Escape a literal for an unquoted, expanded Exim option value."""
    out = []
    for char in value:
        if char in "\\${}":
            out.append("\\")
        out.append(char)
    return "".join(out)
