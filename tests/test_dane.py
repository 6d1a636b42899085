"""DANE: the site keys, the rendered transport, TLSA records and their checks.

The lab proof (a DANE-verified delivery and a deferral on a wrong TLSA
record) is in test_lab_dane.
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.zone
import pytest

from eximctl.dane import spki_sha256, tlsa_key_path, tlsa_problem, tlsa_rdata
from eximctl.errors import SiteError, ZoneError
from eximctl.files import render_configure
from eximctl.lab_sites import LAB_NAMESERVER
from eximctl.site import BuildSection, Site, bundled_site_path, load_site, parse_site
from eximctl.site_rules import site_warnings
from eximctl.tls_certs import bundled_lab_tls_key
from eximctl.zone_checks import check_zone, check_zone_files
from eximctl.zones import build_zones

BASE = """
accounts = ["ann"]
[host]
name = "mail.example.test"
[[domains]]
name = "example.test"
"""

# Each invalid DANE setting, the key the error names, and a phrase of the fix.
INVALID = [
    (
        '[build]\nfeatures = ["tls", "dkim"]\n[tls]\ndane = true',
        "tls.dane",
        'add "dane" to build.features or set tls.dane = false',
    ),
    (
        '[build]\nfeatures = ["dane"]\n[tls]\ndane = true',
        "tls.dane",
        'DANE needs "tls" in build.features',
    ),
    (
        '[tls]\ndns_trust_aa = ["*.example.test"]',
        "tls.dns_trust_aa",
        "set tls.dane = true or remove it",
    ),
    (
        '[tls]\ndane = true\ndns_trust_aa = ["example.test", "!bad.test"]',
        "tls.dns_trust_aa[1]",
        "invalid domain pattern '!bad.test'",
    ),
    (
        '[tls]\ndane = true\ndns_trust_aa = ["*"]',
        "tls.dns_trust_aa[0]",
        "'*.lab.example' for every name below it",
    ),
    (
        '[tls]\ndane = true\ndns_trust_aa = ["a.test : b.test"]',
        "tls.dns_trust_aa[0]",
        "invalid domain pattern",
    ),
    (
        '[tls]\ndane = true\ndns_trust_aa = "*.test"',
        "tls.dns_trust_aa",
        "expected a list",
    ),
]


def bundled(name: str) -> Site:
    return load_site(bundled_site_path(name))


def transport(text: str, name: str) -> str:
    start = text.index(f"\n{name}:\n")
    return text[start : text.find("\n\n", start + 1)]


@pytest.mark.parametrize(("extra", "key", "phrase"), INVALID)
def test_invalid_dane_setting_rejected(extra: str, key: str, phrase: str) -> None:
    with pytest.raises(SiteError) as raised:
        parse_site(BASE + extra)
    assert raised.value.key == key
    assert phrase in raised.value.message


def test_dane_off_by_default() -> None:
    site = parse_site(BASE)
    assert site.tls.dane is False
    assert site.tls.dns_trust_aa == ()


def test_default_build_includes_dane() -> None:
    assert "dane" in BuildSection().features
    assert bundled("default").build.features == BuildSection().features


def test_dane_site_renders_hosts_try_dane() -> None:
    site = parse_site(BASE + '[tls]\ndane = true\ndns_trust_aa = ["*.lab.example"]')
    text = render_configure(site)
    remote = transport(text, "remote_smtp")
    assert "  dnssec_request_domains = *" in remote.splitlines()
    assert "  hosts_try_dane = *" in remote.splitlines()
    assert "\ndns_trust_aa = *.lab.example\n" in text


def test_dane_off_clears_exim_default() -> None:
    text = render_configure(parse_site(BASE))
    remote = transport(text, "remote_smtp")
    assert "  hosts_try_dane =" in remote.splitlines()
    assert "dnssec_request_domains" not in text
    assert "dns_trust_aa" not in text


def test_no_dane_option_without_build_support() -> None:
    # An Exim built without DANE rejects hosts_try_dane as an unknown option.
    text = render_configure(parse_site(BASE + '[build]\nfeatures = ["tls"]'))
    assert "dane" not in text


def test_dns_trust_aa_warns() -> None:
    site = parse_site(BASE + '[tls]\ndane = true\ndns_trust_aa = ["*.lab.example"]')
    (warning,) = site_warnings(site)
    assert "tls.dns_trust_aa" in warning
    assert "authoritative server" in warning


def test_lab_mx_sites_use_dane() -> None:
    for name in ("lab/mx1", "lab/mx2"):
        site = bundled(name)
        assert site.tls.dane, name
        assert site.tls.dns_trust_aa == ("*.test",), name
        assert bundled_lab_tls_key(site) is not None, name


def test_tlsa_digest_matches_openssl() -> None:
    key = bundled_lab_tls_key(bundled("lab/mx1"))
    assert key is not None
    der = subprocess.run(
        ["openssl", "pkey", "-in", str(key), "-pubout", "-outform", "DER"],
        capture_output=True,
        check=True,
    ).stdout
    assert spki_sha256(key) == hashlib.sha256(der).digest()
    rdata = tlsa_rdata(key)
    assert rdata.to_text() == f"3 1 1 {hashlib.sha256(der).hexdigest()}"


def test_lab_zones_publish_tlsa_of_dane_hosts() -> None:
    sites = [bundled(f"lab/{name}") for name in ("inbox", "mx1", "mx2", "relay")]
    zones = build_zones(sites, LAB_NAMESERVER, key_root=Path("/nonexistent"))
    published = {}
    for zone in zones.values():
        for name, _, rdata in zone.iterate_rdatas(dns.rdatatype.TLSA):
            published[name.to_text()] = rdata.to_text()
    key = bundled_lab_tls_key(bundled("lab/mx1"))
    assert key is not None
    assert set(published) == {"_25._tcp.mx1.alpha.test.", "_25._tcp.mx2.beta.test."}
    assert published["_25._tcp.mx1.alpha.test."] == tlsa_rdata(key).to_text()


def test_tlsa_needs_existing_key(tmp_path: Path) -> None:
    text = BASE + f'[build]\nconfig_directory = "{tmp_path}/etc"\n[tls]\ndane = true'
    site = parse_site(text, tmp_path / "site.toml")
    with pytest.raises(ZoneError) as raised:
        tlsa_key_path(site)
    assert "_25._tcp.mail.example.test. TLSA" in str(raised.value)
    assert f"{tmp_path}/etc/tls/mail.example.test.key" in str(raised.value)
    assert "run 'eximctl configure' first" in str(raised.value)


# TLSA records and the phrase of the problem found, or None when valid.
DIGEST = "ab" * 32
TLSA_CASES = [
    ("_25._tcp.mx.example.test.", f"3 1 1 {DIGEST}", None),
    ("_25._tcp.mx.example.test.", f"2 0 2 {'cd' * 64}", None),
    ("_25._TCP.mx.example.test.", f"3 1 1 {DIGEST}", None),
    ("_25._tcp.mx.example.test.", f"1 1 1 {DIGEST}", "certificate usage 1"),
    ("_25._tcp.mx.example.test.", f"3 2 1 {DIGEST}", "selector 2"),
    ("_25._tcp.mx.example.test.", f"3 1 3 {DIGEST}", "matching type 3"),
    ("mx.example.test.", f"3 1 1 {DIGEST}", "not of the form _PORT._tcp.HOST"),
    ("_smtp._tcp.mx.example.test.", f"3 1 1 {DIGEST}", "not of the form"),
]


@pytest.mark.parametrize(("owner", "text", "problem"), TLSA_CASES)
def test_tlsa_problem(owner: str, text: str, problem: str | None) -> None:
    rdata = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.TLSA, text)
    found = tlsa_problem(dns.name.from_text(owner), rdata)
    if problem is None:
        assert found is None
    else:
        assert found is not None
        assert problem in found


ZONE_HEAD = """\
example.test. 3600 IN SOA ns.example.test. hostmaster.example.test. 1 2 3 4 5
example.test. 3600 IN NS ns.example.test.
ns.example.test. 3600 IN A 192.0.2.53
"""


def test_zone_check_reports_tlsa_usage(tmp_path: Path) -> None:
    (tmp_path / "example.test.zone").write_text(
        ZONE_HEAD + f"_25._tcp.mx.example.test. 3600 IN TLSA 1 1 1 {DIGEST}\n"
    )
    (problem,) = check_zone_files(tmp_path)
    assert problem.record.startswith("_25._tcp.mx.example.test. TLSA 1 1 1")
    assert "certificate usage 1 is not DANE-TA (2) or DANE-EE (3)" in str(problem)


def test_zone_check_reports_tlsa_digest_length(tmp_path: Path) -> None:
    (tmp_path / "example.test.zone").write_text(
        ZONE_HEAD + f"_25._tcp.mx.example.test. 3600 IN TLSA 3 1 1 {DIGEST}00\n"
    )
    (problem,) = check_zone_files(tmp_path)
    assert "does not parse" in str(problem)
    assert "length inconsistent with matching type" in str(problem)


def test_zone_check_accepts_lab_tlsa() -> None:
    zone = dns.zone.from_text(
        ZONE_HEAD + f"_25._tcp.mx.example.test. 3600 IN TLSA 3 1 1 {DIGEST}\n",
        origin="example.test.",
        relativize=False,
    )
    assert check_zone(zone) == []
