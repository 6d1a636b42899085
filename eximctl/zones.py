"""DNS zones for the mail domains of one or more sites, as dnspython objects.

Every domain that a site serves as kind 'local' or 'virtual' gets its MX, SPF,
DMARC and DKIM records. A domain with zone = 'own' gets a zone of its own,
delegated from an enclosing zone when there is one, and zone = 'parent' puts
its records into the enclosing zone. Backup MX hosts appear through the MX
list of the primary's domain. Host names that no such zone covers (the
smarthost, the name server) get a zone for their parent domain, so that every
MX and NS target resolves inside the generated zones. The host of a site with
tls.dane gets a TLSA record of its TLS key (see dane).
"""

from __future__ import annotations

import datetime
import ipaddress
import logging
from dataclasses import dataclass
from pathlib import Path

import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.MX
import dns.rdtypes.ANY.NS
import dns.rdtypes.ANY.SOA
import dns.rdtypes.ANY.TXT
import dns.zone

from eximctl.dane import tlsa_key_files, tlsa_rdata
from eximctl.dkim_keys import (
    dkim_domains,
    dkim_key_for_record,
    dkim_txt_value,
    find_dkim_key,
)
from eximctl.errors import SiteError, ZoneError
from eximctl.site import DomainSection, Site, check_address, check_hostname
from eximctl.zone_records import dmarc_problem, spf_problem

log = logging.getLogger(__name__)

IN = dns.rdataclass.IN
# One hour: records change only when a site file changes, and resolvers then
# pick up the change within the hour.
DEFAULT_TTL = 3600
# SOA timers (RFC 1035 section 3.3.13). They matter only to secondaries, and
# the lab runs one primary NSD, so they follow common practice for small zones.
SOA_REFRESH = 3600  # A secondary checks for a newer serial every hour.
SOA_RETRY = 900  # After a failed refresh it tries again every 15 minutes.
SOA_EXPIRE = 1209600  # It serves its copy for two weeks while the primary is down.
# The negative-caching TTL (RFC 2308 section 4): how long a resolver remembers
# that a name or record does not exist. Five minutes, so a record added to a
# site file is found soon even by a resolver that looked for it before.
SOA_MINIMUM = 300
# The SOA contact mailbox hostmaster@DOMAIN (RFC 2142 section 7).
SOA_CONTACT = "hostmaster"
TXT_STRING_BYTES = 255

Nameserver = tuple[str, str]


@dataclass(frozen=True)
class ServedDomain:
    """A domain that one site delivers, with the site that defines its records."""

    site: Site
    domain: DomainSection


def build_zones(
    sites: list[Site], nameserver: Nameserver, *, key_root: Path | None = None
) -> dict[str, dns.zone.Zone]:
    """Build one zone per served domain and per uncovered host parent domain.

    ``nameserver`` is the (host name, address) of the authoritative server.
    DKIM keys that are missing are created (see ensure_dkim_key), under
    ``key_root`` when it is given. Sites with tls.dane get a TLSA record of
    their TLS key, which must exist (see dane.tlsa_key_path). Returns zones
    keyed by domain, without the trailing dot. The SOA serial is today's
    first; write_zones sets the final.
    """
    _check_nameserver(nameserver)
    for site in sites:
        check_site_records(site)
    served = served_domains(sites)
    hosts = host_addresses(sites, nameserver)
    zones = {
        origin: _new_zone(origin, nameserver[0])
        for origin in _zone_origins(served, hosts)
    }
    for item in served.values():
        _add_mail_records(zones, item.site, item.domain)
    for host, addresses in sorted(hosts.items()):
        _add_addresses(zones, host, addresses)
    _add_delegations(zones, nameserver[0], hosts)
    for site in sites:
        for record_name, key_path in dkim_key_files([site], key_root).items():
            _add_dkim(zones, record_name, key_path)
    for record_name, key_path in tlsa_key_files(sites, key_root).items():
        _add_record(zones, record_name, tlsa_rdata(key_path))
    return zones


def check_site_records(site: Site) -> None:
    """Raise SiteError for an SPF, DMARC or MX value that would make a bad record."""
    for i, domain in enumerate(site.domains):
        where = f"domain {domain.name} in {site.path}"
        # A backup domain's TXT records come from the primary's site.
        if domain.kind != "backup":
            _check_txt_values(domain, i, where)
        for j, mx in enumerate(domain.mx):
            if _is_ip_literal(mx.host):
                raise SiteError(
                    f"domains[{i}].mx[{j}].host",
                    f"{where}: the MX host {mx.host} is an IP address, but an MX "
                    "record needs a host name (RFC 5321 section 5.1); use the "
                    "host's name and list the address in addresses",
                )


def _check_txt_values(domain: DomainSection, index: int, where: str) -> None:
    problem = spf_problem(domain.spf) if domain.spf else None
    if problem:
        raise SiteError(f"domains[{index}].spf", f"{where}: {problem}")
    problem = dmarc_problem(domain.dmarc) if domain.dmarc else None
    if problem:
        raise SiteError(f"domains[{index}].dmarc", f"{where}: {problem}")


def served_domains(sites: list[Site]) -> dict[str, ServedDomain]:
    """Return the local and virtual domains of ``sites``, keyed by name."""
    served: dict[str, ServedDomain] = {}
    for site in sites:
        for domain in site.domains:
            if domain.kind == "backup":
                continue
            name = _normal(domain.name)
            if name in served:
                other = served[name].site.path
                raise ZoneError(
                    name,
                    f"both {other} and {site.path} serve it as a local or "
                    "virtual domain; make it kind 'backup' in one of them",
                )
            served[name] = ServedDomain(site, domain)
    return served


def host_addresses(
    sites: list[Site], nameserver: Nameserver
) -> dict[str, frozenset[str]]:
    """Collect the addresses of the hosts, MX hosts and name server.

    Raises ZoneError when two sources give different addresses for one host.
    """
    found: dict[str, tuple[frozenset[str], str]] = {}
    ns_name, ns_address = nameserver
    _note_host(found, ns_name, (ns_address,), "the name server")
    for site in sites:
        _note_host(found, site.host.name, site.host.addresses, f"{site.path} host")
        for domain in site.domains:
            for mx in domain.mx:
                source = f"{site.path} mx of {domain.name}"
                _note_host(found, mx.host, mx.addresses, source)
    return {host: addresses for host, (addresses, _) in found.items()}


def _note_host(
    found: dict[str, tuple[frozenset[str], str]],
    host: str,
    addresses: tuple[str, ...],
    source: str,
) -> None:
    name = _normal(host)
    new = frozenset(str(ipaddress.ip_address(a)) for a in addresses)
    old, old_source = found.get(name, (frozenset(), ""))
    if old and new and old != new:
        raise ZoneError(
            f"{name}. A",
            f"{old_source} gives {', '.join(sorted(old))} but {source} gives "
            f"{', '.join(sorted(new))}; list the same addresses in both",
        )
    found[name] = (old or new, old_source if old else source)


def _zone_origins(
    served: dict[str, ServedDomain], hosts: dict[str, frozenset[str]]
) -> list[str]:
    origins = {name for name, item in served.items() if item.domain.zone == "own"}
    for host, addresses in sorted(hosts.items()):
        if addresses and _enclosing(host, origins) is None:
            origins.add(_parent_domain(host))
    for name, item in served.items():
        if item.domain.zone == "parent" and _enclosing(name, origins, True) is None:
            raise ZoneError(
                name,
                f"zone = 'parent' in {item.site.path}, but no zone is built for "
                "a parent domain of it; set zone = 'own'",
            )
    return sorted(origins)


def _new_zone(origin: str, ns_name: str) -> dns.zone.Zone:
    zone = dns.zone.Zone(dns.name.from_text(origin), relativize=False)
    apex = _absolute(origin)
    soa = dns.rdtypes.ANY.SOA.SOA(  # type: ignore[no-untyped-call]
        IN,
        dns.rdatatype.SOA,
        _absolute(ns_name),
        _absolute(f"{SOA_CONTACT}.{origin}"),
        first_serial(datetime.date.today()),
        SOA_REFRESH,
        SOA_RETRY,
        SOA_EXPIRE,
        SOA_MINIMUM,
    )
    _add(zone, apex, soa)
    _add(zone, apex, ns_rdata(ns_name))
    return zone


def default_spf(site: Site) -> str:
    """Return the SPF record of a domain whose site file names none.

    Mail leaves through the domain's MX hosts, and through the smarthost
    when the site has one, so exactly those may send for it.
    """
    relay = f" a:{site.smarthost.host}" if site.smarthost is not None else ""
    return f"v=spf1 mx{relay} -all"


def first_serial(today: datetime.date) -> int:
    """Return the first serial of ``today`` in the form YYYYMMDDnn."""
    return int(today.strftime("%Y%m%d")) * 100 + 1


def _add_mail_records(
    zones: dict[str, dns.zone.Zone], site: Site, domain: DomainSection
) -> None:
    name = _normal(domain.name)
    zone = _zone_for(zones, name)
    if zone is None:
        raise ZoneError(name, "no zone was built for it")  # Checked in _zone_origins.
    owner = _absolute(name)
    # Without an mx list the site's own host is the one MX of the domain.
    exchanges = [(mx.preference, mx.host) for mx in domain.mx]
    for preference, host in exchanges or [(10, site.host.name)]:
        _add(zone, owner, mx_rdata(preference, host))
    _add(zone, owner, txt_rdata(domain.spf or default_spf(site)))
    if domain.dmarc:
        _add(zone, _absolute(f"_dmarc.{name}"), txt_rdata(domain.dmarc))


def _add_addresses(
    zones: dict[str, dns.zone.Zone], host: str, addresses: frozenset[str]
) -> None:
    zone = _zone_for(zones, host)
    if zone is None or not addresses:
        return  # A host outside our zones, such as another provider's MX.
    for address in sorted(addresses):
        _add(zone, _absolute(host), address_rdata(address))


def _add_delegations(
    zones: dict[str, dns.zone.Zone], ns_name: str, hosts: dict[str, frozenset[str]]
) -> None:
    """Add NS records at each zone's cut in its enclosing zone, and glue."""
    for origin in sorted(zones):
        parent = _enclosing(origin, set(zones), strict=True)
        if parent is None:
            continue
        cut = _absolute(origin)
        _add(zones[parent], cut, ns_rdata(ns_name))
        # Glue: the parent must give the server's address when the server's
        # name lies inside the zone it is the server for (RFC 1034 4.2.1).
        if _absolute(ns_name).is_subdomain(cut):
            for address in sorted(hosts[_normal(ns_name)]):
                _add(zones[parent], _absolute(ns_name), address_rdata(address))


def dkim_key_files(
    sites: list[Site], key_root: Path | None = None, *, create: bool = True
) -> dict[str, Path]:
    """Map each DKIM record name of ``sites`` to the private key it publishes.

    With ``create`` missing keys are created (see dkim_key_for_record).
    Without it, a record whose key is not found is left out. The names are
    fully qualified and lower case, as in 'lab2026._domainkey.alpha.test.'.
    """
    keys: dict[str, Path] = {}
    for site in sites:
        if site.dkim is None:
            continue
        for domain in dkim_domains(site):
            name = f"{site.dkim.selector}._domainkey.{domain}.".lower()
            if create:
                keys[name] = dkim_key_for_record(site, domain, key_root)
            elif found := find_dkim_key(site, domain, key_root):
                keys[name] = found
    return keys


def _add_dkim(zones: dict[str, dns.zone.Zone], record_name: str, key: Path) -> None:
    _add_record(zones, record_name, txt_rdata(dkim_txt_value(key)))


def _add_record(
    zones: dict[str, dns.zone.Zone], record_name: str, rdata: dns.rdata.Rdata
) -> None:
    zone = _zone_for(zones, record_name)
    if zone is None:
        log.warning(
            "no generated zone contains %s; publish that record yourself", record_name
        )
        return
    _add(zone, _absolute(record_name), rdata)


def txt_rdata(value: str) -> dns.rdtypes.ANY.TXT.TXT:
    """Return one TXT rdata whose character-strings contain ``value``.

    A character-string contains at most 255 bytes (RFC 1035 section 3.3), so a
    longer value, such as a 2048-bit DKIM key, is split into several strings
    of one record. Receivers join them without spaces (RFC 7208 section 3.3,
    RFC 6376 section 3.6.2.2).
    """
    data = value.encode("utf-8")
    chunks = [
        data[i : i + TXT_STRING_BYTES] for i in range(0, len(data), TXT_STRING_BYTES)
    ]
    return dns.rdtypes.ANY.TXT.TXT(IN, dns.rdatatype.TXT, chunks or [b""])


def address_rdata(address: str) -> dns.rdata.Rdata:
    """Return an A rdata for an IPv4 address or an AAAA rdata for IPv6."""
    parsed = ipaddress.ip_address(address)
    rdtype = dns.rdatatype.A if parsed.version == 4 else dns.rdatatype.AAAA
    return dns.rdata.from_text(IN, rdtype, str(parsed))


# The rdata constructors of dnspython 2.x carry no type hints, hence the
# ignores on the calls below.
def mx_rdata(preference: int, host: str) -> dns.rdata.Rdata:
    """Return an MX rdata whose exchange is ``host`` as an absolute name."""
    rdtype = dns.rdatatype.MX
    rdata: dns.rdata.Rdata = dns.rdtypes.ANY.MX.MX(  # type: ignore[no-untyped-call]
        IN, rdtype, preference, _absolute(host)
    )
    return rdata


def ns_rdata(host: str) -> dns.rdata.Rdata:
    """Return an NS rdata whose target is ``host`` as an absolute name."""
    rdata: dns.rdata.Rdata = dns.rdtypes.ANY.NS.NS(  # type: ignore[no-untyped-call]
        IN, dns.rdatatype.NS, _absolute(host)
    )
    return rdata


def _add(zone: dns.zone.Zone, name: dns.name.Name, rdata: dns.rdata.Rdata) -> None:
    rdataset = zone.find_rdataset(name, rdata.rdtype, create=True)
    rdataset.add(rdata, DEFAULT_TTL)


def _zone_for(zones: dict[str, dns.zone.Zone], name: str) -> dns.zone.Zone | None:
    origin = _enclosing(_normal(name), set(zones))
    return zones[origin] if origin is not None else None


def _enclosing(name: str, origins: set[str], strict: bool = False) -> str | None:
    """Return the longest origin equal to ``name`` or above it."""
    labels = name.split(".")
    start = 1 if strict else 0
    for i in range(start, len(labels)):
        candidate = ".".join(labels[i:])
        if candidate in origins:
            return candidate
    return None


def _parent_domain(host: str) -> str:
    """Return the domain a host is named in: mx.inbox.test is in inbox.test."""
    labels = host.split(".")
    return ".".join(labels[1:]) if len(labels) > 2 else host


def _check_nameserver(nameserver: Nameserver) -> None:
    name, address = nameserver
    try:
        check_hostname(name, "nameserver name")
        check_address(address, "nameserver address")
    except SiteError as exc:
        raise ZoneError(f"{name} NS", str(exc)) from None


def _absolute(name: str) -> dns.name.Name:
    # from_text with the root origin: 'mail.example.org' and 'mail.example.org.'
    # are the same absolute name, and never 'mail.example.org.example.org.'.
    return dns.name.from_text(name, origin=dns.name.root)


def _normal(name: str) -> str:
    return name.lower().rstrip(".")


def _is_ip_literal(text: str) -> bool:
    try:
        ipaddress.ip_address(text.strip("[]").rstrip("."))
    except ValueError:
        return False
    return True
