"""Checks of built or written zones: apex, MX targets, mail TXT and TLSA records.

Each check returns ZoneError objects, one per problem, naming the record and
the fix. write_zones raises the first of them; `eximctl zones --check` prints
them all.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Mapping
from pathlib import Path

import dns.exception
import dns.name
import dns.rdata
import dns.rdataset
import dns.rdatatype
import dns.zone

from eximctl.dane import tlsa_problem
from eximctl.dkim_keys import dkim_txt_value
from eximctl.errors import EximctlError, ZoneError
from eximctl.zone_records import (
    dkim_problem,
    dkim_tags,
    dmarc_problem,
    is_spf,
    spf_problem,
    spf_total_problem,
)

Zones = Mapping[str, dns.zone.Zone]
ADDRESS_TYPES = (dns.rdatatype.A, dns.rdatatype.AAAA)


def read_zone_file(path: Path) -> dns.zone.Zone:
    """Parse DOMAIN.zone with origin DOMAIN; raise ZoneError if it does not parse."""
    origin = path.name.removesuffix(".zone")
    try:
        return dns.zone.from_file(str(path), origin=origin, relativize=False)
    except (OSError, dns.exception.DNSException) as exc:
        raise ZoneError(
            str(path), f"does not parse ({exc}); run 'eximctl zones' to rewrite it"
        ) from None


def check_zone_files(
    directory: Path, dkim_keys: Mapping[str, Path] | None = None
) -> list[ZoneError]:
    """Parse and check every DOMAIN.zone file in ``directory``."""
    problems: list[ZoneError] = []
    zones: dict[str, dns.zone.Zone] = {}
    paths = sorted(directory.glob("*.zone"))
    if not paths:
        message = (
            "contains no zone files; run 'eximctl zones' to write them, or "
            "give their folder with --directory"
        )
        return [ZoneError(str(directory.resolve()), message)]
    for path in paths:
        try:
            zones[path.name.removesuffix(".zone")] = read_zone_file(path)
        except ZoneError as exc:
            problems.append(exc)
    return problems + check_zones(zones, dkim_keys)


def check_zones(
    zones: Zones, dkim_keys: Mapping[str, Path] | None = None
) -> list[ZoneError]:
    """Check each zone, resolving names across all of ``zones``.

    ``dkim_keys`` maps the fully qualified name of a DKIM record, such as
    'lab2026._domainkey.alpha.test.', to the private key file it must match.
    """
    problems: list[ZoneError] = []
    for name in sorted(zones):
        problems += check_zone(zones[name], zones=zones, dkim_keys=dkim_keys)
    return problems


def check_zone(
    zone: dns.zone.Zone,
    *,
    zones: Zones | None = None,
    dkim_keys: Mapping[str, Path] | None = None,
) -> list[ZoneError]:
    """Return the problems of one zone; ``zones`` lets names resolve across zones."""
    others = dict(zones or {})
    others.setdefault(_origin_text(zone), zone)
    problems = _check_apex(zone)
    for name, rdataset in _rdatasets(zone):
        if rdataset.rdtype in (dns.rdatatype.MX, dns.rdatatype.NS):
            problems += _check_targets(zone, name, rdataset, others)
        elif rdataset.rdtype == dns.rdatatype.TXT:
            problems += _check_txt(name, rdataset, others, dkim_keys or {})
        elif rdataset.rdtype == dns.rdatatype.TLSA:
            problems += _check_tlsa(name, rdataset)
    return problems


def _check_apex(zone: dns.zone.Zone) -> list[ZoneError]:
    origin = _origin_text(zone)
    problems = []
    for rdtype in (dns.rdatatype.SOA, dns.rdatatype.NS):
        if zone.get_rdataset(zone.origin or dns.name.root, rdtype) is None:
            kind = dns.rdatatype.to_text(rdtype)
            problems.append(
                ZoneError(
                    f"{origin} {kind}",
                    f"missing; a zone needs {kind} at its apex {origin}",
                )
            )
    return problems


def _check_targets(
    zone: dns.zone.Zone,
    name: dns.name.Name,
    rdataset: dns.rdataset.Rdataset,
    zones: Zones,
) -> list[ZoneError]:
    """Check MX exchanges and NS targets (RFC 2181 section 10.3, RFC 5321 5.1)."""
    problems = []
    kind = dns.rdatatype.to_text(rdataset.rdtype)
    for rdata in rdataset:
        target = _target(rdata, zone.origin or dns.name.root)
        if target == dns.name.root:
            continue  # A null MX (RFC 7505) marks a domain that accepts no mail.
        record = f"{name} {kind} {rdata.to_text(origin=zone.origin, relativize=False)}"
        problem = _target_problem(target, zones)
        if problem:
            problems.append(ZoneError(record, problem))
    return problems


def _target(rdata: dns.rdata.Rdata, origin: dns.name.Name) -> dns.name.Name:
    """Return the absolute MX exchange or NS target of ``rdata``."""
    if rdata.rdtype == dns.rdatatype.MX:
        target: dns.name.Name = rdata.exchange  # type: ignore[attr-defined]
    else:
        target = rdata.target  # type: ignore[attr-defined]
    return target.derelativize(origin)


def _target_problem(target: dns.name.Name, zones: Zones) -> str | None:
    text = target.to_text(omit_final_dot=True)
    if _is_ip_literal(text):
        return (
            f"the target {target} is an IP address, but MX and NS records "
            "need a host name; give the host a name with an A record"
        )
    zone = _zone_of(target, zones)
    if zone is None:
        return None  # Outside our zones, so its addresses cannot be checked here.
    if _find(zone, target, dns.rdatatype.CNAME):
        return (
            f"the target {target} is a CNAME, which MX and NS targets must not "
            "be (RFC 2181 section 10.3); point the record at the canonical name"
        )
    if not any(_find(zone, target, t) for t in ADDRESS_TYPES):
        return (
            f"the target {target} has no A or AAAA record in zone "
            f"{_origin_text(zone)}; add its addresses to host.addresses or the "
            "mx entry of the site file"
        )
    return None


def _check_txt(
    name: dns.name.Name,
    rdataset: dns.rdataset.Rdataset,
    zones: Zones,
    dkim_keys: Mapping[str, Path],
) -> list[ZoneError]:
    values = [txt_value(rdata) for rdata in rdataset]
    problems: list[ZoneError] = []
    spf = [v for v in values if is_spf(v)]
    if len(spf) > 1:
        message = "has more than one SPF record; merge them into one (RFC 7208 3.2)"
        problems.append(ZoneError(f"{name} TXT", message))
    for value in spf:
        problem = spf_problem(value) or spf_total_problem(
            value, lambda target: _spf_at(target, zones), name.to_text()
        )
        if problem:
            problems.append(ZoneError(f'{name} TXT "{value}"', problem))
    first_label = name.labels[0].lower() if name.labels else b""
    if first_label == b"_dmarc":
        problems += _check_dmarc(name, values)
    if len(name.labels) > 1 and name.labels[1].lower() == b"_domainkey":
        problems += _check_dkim(name, values, dkim_keys)
    return problems


def _check_dmarc(name: dns.name.Name, values: list[str]) -> list[ZoneError]:
    problems = []
    for value in values:
        problem = dmarc_problem(value)
        if problem:
            problems.append(ZoneError(f'{name} TXT "{value}"', problem))
    return problems


def _check_dkim(
    name: dns.name.Name, values: list[str], dkim_keys: Mapping[str, Path]
) -> list[ZoneError]:
    problems = []
    key_path = dkim_keys.get(name.to_text().lower())
    for value in values:
        record = f"{name} TXT"
        problem = dkim_problem(value)
        if problem is None and key_path is not None:
            problem = _dkim_key_problem(value, key_path)
        if problem:
            problems.append(ZoneError(record, problem))
    return problems


def _dkim_key_problem(value: str, key_path: Path) -> str | None:
    """Compare the published key with the public half of the private key file."""
    try:
        expected = dkim_tags(dkim_txt_value(key_path))
    except EximctlError as exc:
        return f"cannot read the private key to compare: {exc}"
    published = dkim_tags(value)
    if published.get("k", "rsa") != expected["k"] or published["p"] != expected["p"]:
        return (
            f"the published p= does not match the private key {key_path}, so "
            "every signature fails; run 'eximctl zones' to publish the key"
        )
    return None


def _check_tlsa(
    name: dns.name.Name, rdataset: dns.rdataset.Rdataset
) -> list[ZoneError]:
    problems = []
    for rdata in rdataset:
        problem = tlsa_problem(name, rdata)
        if problem:
            problems.append(ZoneError(f"{name} TLSA {rdata.to_text()}", problem))
    return problems


def txt_value(rdata: dns.rdata.Rdata) -> str:
    """Join the character-strings of a TXT rdata into one value (RFC 7208 3.3)."""
    strings: tuple[bytes, ...] = rdata.strings  # type: ignore[attr-defined]
    return b"".join(strings).decode("utf-8", errors="replace")


def _spf_at(target: str, zones: Zones) -> str | None:
    name = dns.name.from_text(target)
    zone = _zone_of(name, zones)
    if zone is None:
        return None
    rdataset = _find(zone, name, dns.rdatatype.TXT)
    values = [txt_value(r) for r in rdataset or ()]
    spf = [v for v in values if is_spf(v)]
    return spf[0] if spf else None


def _zone_of(name: dns.name.Name, zones: Zones) -> dns.zone.Zone | None:
    """Return the zone with the longest origin that contains ``name``."""
    best: dns.zone.Zone | None = None
    best_labels = 0
    for zone in zones.values():
        origin = zone.origin
        if origin is None or not name.is_subdomain(origin):
            continue
        if len(origin.labels) > best_labels:
            best, best_labels = zone, len(origin.labels)
    return best


def _find(
    zone: dns.zone.Zone, name: dns.name.Name, rdtype: dns.rdatatype.RdataType
) -> dns.rdataset.Rdataset | None:
    return zone.get_rdataset(name, rdtype)


def _rdatasets(
    zone: dns.zone.Zone,
) -> Iterator[tuple[dns.name.Name, dns.rdataset.Rdataset]]:
    origin = zone.origin or dns.name.root
    for name, rdataset in zone.iterate_rdatasets():
        yield name.derelativize(origin), rdataset


def _origin_text(zone: dns.zone.Zone) -> str:
    return zone.origin.to_text(omit_final_dot=True) if zone.origin else "?"


def _is_ip_literal(text: str) -> bool:
    try:
        ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return False
    return True
