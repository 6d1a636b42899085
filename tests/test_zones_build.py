"""Zone building: records, names, delegation, TXT splitting, serials, golden."""

from __future__ import annotations

import base64
import datetime
import difflib
import os
from pathlib import Path

import dns.name
import dns.zone
import pytest

from eximctl.dkim_keys import dkim_key_path, dkim_txt_value
from eximctl.errors import SiteError, ZoneError
from eximctl.lab_sites import LAB_NAMESERVER, lab_sites
from eximctl.site import Site, parse_site
from eximctl.zone_checks import read_zone_file, txt_value
from eximctl.zone_files import next_serial, write_zones, zone_serial
from eximctl.zones import build_zones, default_spf, dkim_key_files, txt_rdata

GOLDEN = Path(__file__).parent / "golden" / "zones"
NS = ("ns.example.net", "192.0.2.53")
DAY = datetime.date(2026, 1, 2)


def site_text(tmp_path: Path, domains: str, dkim: str = "") -> str:
    return f"""
accounts = ["ann"]
[aliases]
postmaster = "ann"
abuse = "ann"
[host]
name = "mail.example.org"
addresses = ["192.0.2.40"]
[build]
group = "mail"
config_directory = "{tmp_path}/etc"
{dkim}
{domains}
"""


EXAMPLE = """
[[domains]]
name = "example.org"
kind = "local"
spf = "v=spf1 mx -all"
dmarc = "v=DMARC1; p=quarantine; rua=mailto:dmarc@example.org"
mx = [{ host = "mail.example.org", preference = 10, addresses = ["192.0.2.40"] }]
"""


def make_site(tmp_path: Path, domains: str = EXAMPLE, dkim: str = "") -> Site:
    return parse_site(site_text(tmp_path, domains, dkim), tmp_path / "site.toml")


def records(zone: dns.zone.Zone, name: str, rdtype: str) -> list[str]:
    rdataset = zone.get_rdataset(dns.name.from_text(name), rdtype)
    if rdataset is None:
        return []
    return sorted(r.to_text() for r in rdataset)


def test_example_zone_records(tmp_path: Path) -> None:
    zones = build_zones([make_site(tmp_path)], NS)
    assert sorted(zones) == ["example.net", "example.org"]
    zone = zones["example.org"]
    assert records(zone, "example.org.", "MX") == ["10 mail.example.org."]
    assert records(zone, "mail.example.org.", "A") == ["192.0.2.40"]
    assert records(zone, "example.org.", "NS") == ["ns.example.net."]
    assert records(zone, "example.org.", "TXT") == ['"v=spf1 mx -all"']
    dmarc = '"v=DMARC1; p=quarantine; rua=mailto:dmarc@example.org"'
    assert records(zone, "_dmarc.example.org.", "TXT") == [dmarc]
    soa = zone.get_soa()
    assert soa.mname.to_text() == "ns.example.net."
    assert soa.rname.to_text() == "hostmaster.example.org."
    assert records(zones["example.net"], "ns.example.net.", "A") == ["192.0.2.53"]


@pytest.mark.parametrize("host", ["mail.example.org", "mail.example.org."])
def test_k21_mx_target_fully_qualified(tmp_path: Path, host: str) -> None:
    domains = EXAMPLE.replace('host = "mail.example.org"', f'host = "{host}"')
    zones = build_zones([make_site(tmp_path, domains)], NS)
    mx = zones["example.org"].get_rdataset(dns.name.from_text("example.org."), "MX")
    assert mx is not None
    assert [r.exchange.to_text() for r in mx] == ["mail.example.org."]
    write_zones(zones, tmp_path / "zones", today=DAY)
    text = (tmp_path / "zones" / "example.org.zone").read_text()
    assert "example.org. 3600 IN MX 10 mail.example.org.\n" in text
    assert "mail.example.org.example.org" not in text


def test_lab_zone_set(tmp_path: Path) -> None:
    zones = build_zones(lab_sites(), LAB_NAMESERVER, key_root=tmp_path)
    expected = ["alpha.test", "beta.test", "inbox.test", "lab.test", "relay.test"]
    assert sorted(zones) == sorted([*expected, "sub.alpha.test"])
    alpha = zones["alpha.test"]
    assert records(alpha, "alpha.test.", "MX") == [
        "10 mx1.alpha.test.",
        "20 mx2.beta.test.",
    ]
    assert records(alpha, "sub.alpha.test.", "NS") == ["ns.lab.test."]
    assert records(alpha, "sub.alpha.test.", "MX") == []
    assert records(zones["sub.alpha.test"], "sub.alpha.test.", "MX") == [
        "10 mx1.alpha.test."
    ]
    assert records(zones["lab.test"], "ns.lab.test.", "A") == ["192.0.2.53"]
    assert records(zones["relay.test"], "smtp.relay.test.", "A") == ["192.0.2.25"]
    assert records(zones["beta.test"], "beta.test.", "MX") == [
        "10 mx2.beta.test.",
        "20 mx1.alpha.test.",
    ]


def test_lab_dkim_record_matches_key(tmp_path: Path) -> None:
    sites = lab_sites()
    zones = build_zones(sites, LAB_NAMESERVER, key_root=tmp_path)
    keys = dkim_key_files(sites, tmp_path)
    name = "lab2026._domainkey.alpha.test."
    assert set(keys) == {name, "lab2026._domainkey.sub.alpha.test."}
    rdataset = zones["alpha.test"].get_rdataset(dns.name.from_text(name), "TXT")
    assert rdataset is not None
    assert [txt_value(r) for r in rdataset] == [dkim_txt_value(keys[name])]


def test_parent_zone_holds_subdomain_records(tmp_path: Path) -> None:
    domains = (
        EXAMPLE
        + """
[[domains]]
name = "shop.example.org"
kind = "virtual"
zone = "parent"
spf = "v=spf1 mx -all"
mx = [{ host = "mail.example.org", preference = 5 }]
"""
    )
    zones = build_zones([make_site(tmp_path, domains)], NS)
    assert "shop.example.org" not in zones
    zone = zones["example.org"]
    assert records(zone, "shop.example.org.", "MX") == ["5 mail.example.org."]
    assert records(zone, "shop.example.org.", "NS") == []
    assert records(zone, "_dmarc.shop.example.org.", "TXT") == ['"v=DMARC1; p=none"']


def test_own_zone_is_delegated(tmp_path: Path) -> None:
    domains = (
        EXAMPLE
        + """
[[domains]]
name = "shop.example.org"
kind = "virtual"
zone = "own"
mx = [{ host = "mail.example.org", preference = 5 }]
"""
    )
    zones = build_zones([make_site(tmp_path, domains)], NS)
    assert records(zones["example.org"], "shop.example.org.", "NS") == [
        "ns.example.net."
    ]
    assert records(zones["shop.example.org"], "shop.example.org.", "MX") == [
        "5 mail.example.org."
    ]


def test_k17_long_dkim_txt_split(tmp_path: Path) -> None:
    site = make_site(tmp_path, dkim='[dkim]\nselector = "s2026"\nbits = 2048')
    zones = build_zones([site], NS)
    value = dkim_txt_value(dkim_key_path(site, "example.org"))
    assert len(value) > 255
    name = dns.name.from_text("s2026._domainkey.example.org.")
    rdataset = zones["example.org"].get_rdataset(name, "TXT")
    assert rdataset is not None
    assert len(rdataset) == 1
    strings = next(iter(rdataset)).strings
    assert len(strings) == 2
    assert all(len(s) <= 255 for s in strings)
    assert b"".join(strings).decode() == value
    write_zones(zones, tmp_path / "zones", today=DAY)
    reread = read_zone_file(tmp_path / "zones" / "example.org.zone")
    again = reread.get_rdataset(name, "TXT")
    assert again is not None
    assert [txt_value(r) for r in again] == [value]


def test_txt_rdata_split_boundaries() -> None:
    for size in (0, 1, 255, 256, 510, 511):
        value = "x" * size
        strings = txt_rdata(value).strings
        assert all(len(s) <= 255 for s in strings)
        assert b"".join(strings).decode() == value
    assert len(txt_rdata("y" * 511).strings) == 3


def test_site_spf_invalid_names_domain_and_key(tmp_path: Path) -> None:
    terms = " ".join(f"a:h{i}.example.org" for i in range(11))
    domains = EXAMPLE.replace('"v=spf1 mx -all"', f'"v=spf1 {terms} -all"')
    with pytest.raises(SiteError) as caught:
        build_zones([make_site(tmp_path, domains)], NS)
    assert caught.value.key == "domains[0].spf"
    assert "example.org" in str(caught.value)
    assert "needs 11 DNS lookups" in str(caught.value)


@pytest.mark.parametrize(
    ("dmarc", "reason"),
    [
        ("v=DMARC1; rua=mailto:d@example.org; p=reject", "first tag after v=DMARC1"),
        ("v=DMARC1; p=reject; sp=rejcet", "sp=rejcet"),
        ("p=reject", "must start with 'v=DMARC1;'"),
    ],
)
def test_k23_site_dmarc_rejected(tmp_path: Path, dmarc: str, reason: str) -> None:
    domains = EXAMPLE.replace(
        '"v=DMARC1; p=quarantine; rua=mailto:dmarc@example.org"', f'"{dmarc}"'
    )
    with pytest.raises(SiteError) as caught:
        build_zones([make_site(tmp_path, domains)], NS)
    assert caught.value.key == "domains[0].dmarc"
    assert "domain example.org" in str(caught.value)
    assert reason in str(caught.value)


def test_k22_site_mx_ip_literal_rejected(tmp_path: Path) -> None:
    domains = EXAMPLE.replace('host = "mail.example.org"', 'host = "192.0.2.40"')
    with pytest.raises(SiteError) as caught:
        build_zones([make_site(tmp_path, domains)], NS)
    assert caught.value.key == "domains[0].mx[0].host"
    assert "is an IP address" in str(caught.value)


def test_conflicting_addresses_rejected(tmp_path: Path) -> None:
    domains = EXAMPLE.replace(
        'addresses = ["192.0.2.40"]', 'addresses = ["192.0.2.41"]'
    )
    with pytest.raises(ZoneError) as caught:
        build_zones([make_site(tmp_path, domains)], NS)
    assert caught.value.record == "mail.example.org. A"
    assert "192.0.2.40" in str(caught.value)
    assert "192.0.2.41" in str(caught.value)


def test_next_serial_rules() -> None:
    assert next_serial(None, DAY) == 2026010201
    assert next_serial(2025123107, DAY) == 2026010201
    assert next_serial(2026010201, DAY) == 2026010202
    assert next_serial(2026010399, DAY) == 2026010400


def test_unchanged_zone_not_rewritten(tmp_path: Path) -> None:
    site = make_site(tmp_path)
    directory = tmp_path / "zones"
    write_zones(build_zones([site], NS), directory, today=DAY)
    path = directory / "example.org.zone"
    old = 1_600_000_000
    os.utime(path, (old, old))
    statuses = write_zones(build_zones([site], NS), directory, today=DAY.replace(day=9))
    assert statuses["example.org"] == "unchanged"
    assert path.stat().st_mtime == old
    assert zone_serial(read_zone_file(path)) == 2026010201


def test_changed_zone_moves_serial(tmp_path: Path) -> None:
    directory = tmp_path / "zones"
    write_zones(build_zones([make_site(tmp_path)], NS), directory, today=DAY)
    changed = make_site(tmp_path, EXAMPLE.replace("p=quarantine", "p=reject"))
    statuses = write_zones(build_zones([changed], NS), directory, today=DAY)
    path = directory / "example.org.zone"
    assert statuses == {"example.net": "unchanged", "example.org": "written"}
    assert zone_serial(read_zone_file(path)) == 2026010202
    assert "p=reject" in path.read_text()
    next_day = make_site(tmp_path, EXAMPLE.replace("p=quarantine", "p=none"))
    write_zones(build_zones([next_day], NS), directory, today=DAY.replace(day=3))
    assert zone_serial(read_zone_file(path)) == 2026010301


def test_golden_ed25519_site(tmp_path: Path) -> None:
    # The key in the golden folder is a fixed test-only key, so the output
    # is the same on every machine.
    dkim = (
        f'[dkim]\nselector = "s2026"\nkey_type = "ed25519"\nkey_directory = "{GOLDEN}"'
    )
    site = make_site(tmp_path, dkim=dkim)
    zones = build_zones([site], NS)
    write_zones(zones, tmp_path, dkim_keys=dkim_key_files([site]), today=DAY)
    for domain in ("example.net", "example.org"):
        produced = (tmp_path / f"{domain}.zone").read_text()
        expected = (GOLDEN / f"{domain}.zone").read_text()
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(keepends=True),
                produced.splitlines(keepends=True),
                f"golden/{domain}.zone",
                f"produced/{domain}.zone",
            )
        )
        assert produced == expected, f"zone {domain} differs from golden:\n{diff}"


def test_golden_ed25519_value_is_raw_key() -> None:
    value = dkim_txt_value(GOLDEN / "example.org.s2026.pem")
    assert value.startswith("v=DKIM1; k=ed25519; p=")
    raw = base64.b64decode(value.split("p=")[1])
    assert len(raw) == 32


def test_default_spf_covers_smarthost() -> None:
    plain = parse_site(
        'accounts = ["ann"]\n[host]\nname = "mail.example.test"\n'
        '[[domains]]\nname = "example.test"\n'
    )
    relayed = parse_site(
        'accounts = ["ann"]\n[host]\nname = "mail.example.test"\n'
        '[smarthost]\nhost = "smtp.relay.test"\nuser = "u"\npassword_file = "pw"\n'
        '[[domains]]\nname = "example.test"\n'
    )
    assert default_spf(plain) == "v=spf1 mx -all"
    assert default_spf(relayed) == "v=spf1 mx a:smtp.relay.test -all"
