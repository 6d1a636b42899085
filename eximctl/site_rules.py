"""Cross-field rules of a site file, applied once when the site is loaded."""

from __future__ import annotations

import logging
import re

from eximctl.errors import SiteError
from eximctl.site import (
    MxHost,
    Site,
    check_account,
    check_address,
    check_hostname,
    check_local_part,
)

log = logging.getLogger(__name__)

# RFC 5321 section 4.5.1 requires postmaster; RFC 2142 adds abuse.
REQUIRED_ALIASES = ("postmaster", "abuse")

# A domain pattern of tls.dns_trust_aa: a domain, or "*." and a domain for
# every name below it. Exim list syntax ("!", ":", "^", "+") is not accepted.
_DOMAIN_PATTERN = re.compile(
    r"^(\*\.)?((?!-)[A-Za-z0-9-]{1,63}(?<!-)\.)*(?!-)[A-Za-z0-9-]{1,63}(?<!-)\.?$"
)


def check_site(site: Site) -> None:
    """Raise SiteError on the first rule that ``site`` breaks."""
    check_hostname(site.host.name, "host.name")
    for i, address in enumerate(site.host.addresses):
        check_address(address, f"host.addresses[{i}]")
    _check_build(site)
    _check_ports(site)
    _check_accounts(site)
    _check_domains(site)
    check_aliases(site.aliases, site.accounts)
    _check_smarthost(site)
    _check_dane(site)


def site_warnings(site: Site) -> list[str]:
    """Return warnings about settings that are valid but often a mistake."""
    warnings = []
    if 25 in site.tls.required_ports:
        warnings.append(
            "tls.required_ports includes 25: a public MX that requires TLS "
            "rejects mail from senders without TLS (RFC 3207 section 4); "
            "require TLS on 587 and 465 only unless every sender is known"
        )
    if site.tls.dns_trust_aa:
        warnings.append(
            "tls.dns_trust_aa makes Exim take unsigned but authoritative DNS "
            "answers for those domains as DNSSEC-validated; keep it only when "
            "the resolver in /etc/resolv.conf is their authoritative server"
        )
    return warnings


def _check_build(site: Site) -> None:
    for key in ("prefix", "spool_directory", "log_directory", "config_directory"):
        value = getattr(site.build, key)
        if value and not value.startswith("/"):
            raise SiteError(f"build.{key}", f"must be an absolute path, not {value!r}")
    if site.build.jobs < 0:
        raise SiteError(
            "build.jobs", f"must be 0 (one per core) or more, not {site.build.jobs}"
        )
    directory = site.delivery.mail_directory
    if not directory.startswith("/"):
        raise SiteError(
            "delivery.mail_directory",
            f"must be an absolute path, not {directory!r}, because Exim's "
            "appendfile transport accepts no relative mailbox path",
        )
    if site.delivery.mailbox == "maildir" and "maildir" not in site.build.features:
        raise SiteError(
            "delivery.mailbox",
            "'maildir' needs the maildir feature; add \"maildir\" to build.features",
        )
    if site.dkim and "dkim" not in site.build.features:
        raise SiteError("dkim", 'DKIM signing needs "dkim" in build.features')


def _check_ports(site: Site) -> None:
    daemon = site.daemon
    for key, ports in (
        ("daemon.ports", daemon.ports),
        ("daemon.tls_on_connect_ports", daemon.tls_on_connect_ports),
        ("tls.required_ports", site.tls.required_ports),
    ):
        for port in ports:
            if not 1 <= port <= 65535:
                raise SiteError(key, f"invalid port {port}; use 1 to 65535")
    if not daemon.ports:
        raise SiteError("daemon.ports", "list at least one port, such as [25]")

    for port in daemon.tls_on_connect_ports:
        if port not in daemon.ports:
            raise SiteError(
                "daemon.tls_on_connect_ports",
                f"port {port} is not in daemon.ports; add it there so the "
                "daemon listens on it",
            )
    for port in site.tls.required_ports:
        if port not in daemon.ports:
            raise SiteError("tls.required_ports", f"port {port} is not in daemon.ports")

    uses_tls = daemon.tls_on_connect_ports or site.tls.required_ports
    has_certificate = site.tls.certificate or site.tls.generate
    if uses_tls and not has_certificate:
        raise SiteError(
            "tls.certificate",
            "TLS-on-connect or required-TLS ports need a certificate; set "
            "tls.certificate and tls.key, or tls.generate = true",
        )
    if bool(site.tls.certificate) != bool(site.tls.key):
        raise SiteError("tls.key", "set both tls.certificate and tls.key, or neither")
    if uses_tls and "tls" not in site.build.features:
        raise SiteError("build.features", 'TLS ports need "tls" in build.features')
    if daemon.received_headers_max < 2:
        raise SiteError(
            "daemon.received_headers_max",
            f"{daemon.received_headers_max} is too low for any relayed mail; "
            "Exim's default is 30",
        )
    for i, address in enumerate(daemon.interfaces):
        check_address(address, f"daemon.interfaces[{i}]")


def _check_accounts(site: Site) -> None:
    if not site.accounts:
        raise SiteError("accounts", 'list at least one local account, such as ["ann"]')
    for i, name in enumerate(site.accounts):
        check_account(name, f"accounts[{i}]")
        if name == "root":
            raise SiteError(
                f"accounts[{i}]",
                "root cannot receive mail directly (Exim never delivers as "
                "root); alias root to a real account instead",
            )


def _check_domains(site: Site) -> None:
    if not any(d.kind == "local" for d in site.domains):
        raise SiteError("domains", "list at least one domain of kind 'local'")
    seen: set[str] = set()
    for i, domain in enumerate(site.domains):
        key = f"domains[{i}]"
        check_hostname(domain.name, f"{key}.name")
        name = domain.name.lower().rstrip(".")
        if name in seen:
            raise SiteError(f"{key}.name", f"domain {domain.name!r} is listed twice")
        seen.add(name)
        _check_mx(domain.mx, key)
        if domain.kind == "backup":
            _check_backup(site, domain.name, domain.primary, domain.mx, key)
        if domain.kind == "virtual":
            _check_virtual(site, domain.aliases, domain.catch_all, key)
        elif domain.aliases or domain.catch_all:
            raise SiteError(
                f"{key}.aliases",
                "per-domain aliases and catch_all apply only to kind 'virtual'",
            )


def _check_mx(mx: tuple[MxHost, ...], key: str) -> None:
    for j, record in enumerate(mx):
        check_hostname(record.host, f"{key}.mx[{j}].host")
        if not 0 <= record.preference <= 65535:
            raise SiteError(f"{key}.mx[{j}].preference", "use 0 to 65535")
        for k, address in enumerate(record.addresses):
            check_address(address, f"{key}.mx[{j}].addresses[{k}]")


def _check_backup(
    site: Site,
    name: str,
    primary: str,
    mx: tuple[MxHost, ...],
    key: str,
) -> None:
    if not primary:
        raise SiteError(
            f"{key}.primary", f"backup domain {name} needs its primary MX host"
        )
    check_hostname(primary, f"{key}.primary")
    if primary.lower() == site.host.name.lower():
        raise SiteError(
            f"{key}.primary",
            f"this host is the primary of {name}; make the domain kind 'local'",
        )
    if not mx:
        return
    best = min(r.preference for r in mx)
    ours = [r.preference for r in mx if r.host.lower() == site.host.name.lower()]
    if not ours:
        raise SiteError(
            f"{key}.mx", f"this host {site.host.name} is not an MX of {name}"
        )
    if ours[0] <= best:
        raise SiteError(
            f"{key}.mx",
            f"this host has the best MX preference ({ours[0]}) for backup domain "
            f"{name}, so mail for it would loop; give the primary a lower "
            "preference number or make the domain kind 'local'",
        )


def _check_virtual(
    site: Site, aliases: dict[str, str], catch_all: str, key: str
) -> None:
    for local_part, target in aliases.items():
        check_local_part(local_part, f"{key}.aliases.{local_part}")
        _check_target(site, target, f"{key}.aliases.{local_part}")
    if catch_all:
        _check_target(site, catch_all, f"{key}.catch_all")


def _check_target(site: Site, target: str, key: str) -> None:
    if "@" in target:
        local_part, _, domain = target.rpartition("@")
        check_local_part(local_part, key)
        check_hostname(domain, key)
    elif target not in site.accounts:
        raise SiteError(
            key,
            f"{target!r} is neither an address nor one of the accounts "
            f"({', '.join(site.accounts)})",
        )


def check_aliases(
    aliases: dict[str, tuple[str, ...]], accounts: tuple[str, ...]
) -> None:
    """Raise SiteError on an empty required alias or a cycle among aliases."""
    for name, targets in aliases.items():
        key = f"aliases.{name}"
        check_local_part(name, key)
        if not targets:
            raise SiteError(key, "an alias needs at least one target")
        for target in targets:
            if "@" not in target and target not in aliases and target not in accounts:
                raise SiteError(
                    key,
                    f"target {target!r} is neither an address, an alias, nor "
                    "one of the accounts",
                )
    cycle = find_alias_cycle(aliases)
    if cycle:
        raise SiteError(
            "aliases",
            "aliases form a cycle: "
            + " -> ".join(cycle)
            + "; point one of them at an account instead",
        )


def find_alias_cycle(aliases: dict[str, tuple[str, ...]]) -> list[str]:
    """Return one cycle among alias names as a path, or an empty list."""
    state: dict[str, int] = {}  # 1: on the current path, 2: finished

    def visit(name: str, path: list[str]) -> list[str]:
        state[name] = 1
        for target in aliases.get(name, ()):
            if target not in aliases:
                continue
            if state.get(target) == 1:
                return path[path.index(target) :] + [target]
            if state.get(target) is None:
                found = visit(target, path + [target])
                if found:
                    return found
        state[name] = 2
        return []

    for name in sorted(aliases):
        if name not in state:
            cycle = visit(name, [name])
            if cycle:
                return cycle
    return []


def _check_smarthost(site: Site) -> None:
    smarthost = site.smarthost
    if smarthost is None:
        return
    check_hostname(smarthost.host, "smarthost.host")
    if not 1 <= smarthost.port <= 65535:
        raise SiteError("smarthost.port", f"invalid port {smarthost.port}")
    if not smarthost.tls and not smarthost.allow_plaintext_auth:
        raise SiteError(
            "smarthost.tls",
            "a password would be sent without TLS, and Exim would then skip "
            "AUTH silently; enable smarthost.tls, or set "
            "smarthost.allow_plaintext_auth = true on a trusted network",
        )
    if smarthost.tls and "tls" not in site.build.features:
        raise SiteError("smarthost.tls", 'needs "tls" in build.features')
    if not smarthost.password_file:
        raise SiteError(
            "smarthost.password_file",
            "missing; name the file that contains the password",
        )
    if not smarthost.user or smarthost.user.startswith("^"):
        # Exim's PLAIN client cannot send a "^" right after a NUL separator.
        raise SiteError(
            "smarthost.user",
            f"invalid user {smarthost.user!r}; give the login name that the "
            "smarthost expects, not empty and not starting with '^'",
        )


def _check_dane(site: Site) -> None:
    if site.tls.dane and "dane" not in site.build.features:
        raise SiteError(
            "tls.dane",
            'DANE needs an Exim built with it; add "dane" to build.features '
            "or set tls.dane = false",
        )
    if site.tls.dane and "tls" not in site.build.features:
        raise SiteError("tls.dane", 'DANE needs "tls" in build.features')
    if site.tls.dns_trust_aa and not site.tls.dane:
        raise SiteError(
            "tls.dns_trust_aa",
            "has an effect only on DANE; set tls.dane = true or remove it",
        )
    for i, pattern in enumerate(site.tls.dns_trust_aa):
        if not _DOMAIN_PATTERN.match(pattern) or len(pattern) > 253:
            raise SiteError(
                f"tls.dns_trust_aa[{i}]",
                f"invalid domain pattern {pattern!r}; use a domain such as "
                "'lab.example' or '*.lab.example' for every name below it",
            )
