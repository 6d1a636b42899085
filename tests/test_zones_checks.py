"""Zone checks: SOA/NS, MX targets, SPF lookups, DMARC order, DKIM keys."""

from __future__ import annotations

import datetime
from pathlib import Path

import dns.zone
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from eximctl.dkim_keys import dkim_txt_value
from eximctl.errors import ZoneError
from eximctl.zone_checks import check_zone, check_zone_files, check_zones
from eximctl.zone_files import write_zones
from eximctl.zone_records import spf_lookup_count, spf_problem

HEAD = """\
example.org. 3600 IN SOA ns.example.org. hostmaster.example.org. 2026010201 3600 900 1209600 300
example.org. 3600 IN NS ns.example.org.
ns.example.org. 3600 IN A 192.0.2.53
mail.example.org. 3600 IN A 192.0.2.40
"""


def zone(records: str, head: str = HEAD, origin: str = "example.org") -> dns.zone.Zone:
    return dns.zone.from_text(head + records, origin=origin, relativize=False)


def messages(problems: list[ZoneError]) -> list[str]:
    return [str(p) for p in problems]


def write_key(path: Path) -> Path:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.write_bytes(pem)
    return path


def test_valid_zone_passes() -> None:
    records = (
        "example.org. 3600 IN MX 10 mail.example.org.\n"
        'example.org. 3600 IN TXT "v=spf1 mx -all"\n'
        '_dmarc.example.org. 3600 IN TXT "v=DMARC1; p=reject; sp=none"\n'
    )
    assert check_zone(zone(records)) == []


def test_missing_soa_and_ns() -> None:
    bare = dns.zone.from_text(
        "mail.example.org. 3600 IN A 192.0.2.40\n",
        origin="example.org",
        relativize=False,
        check_origin=False,
    )
    problems = check_zone(bare)
    assert [p.record for p in problems] == ["example.org SOA", "example.org NS"]
    assert "missing" in str(problems[0])


def test_k22_mx_to_cname_rejected() -> None:
    records = (
        "example.org. 3600 IN MX 10 smtp.example.org.\n"
        "smtp.example.org. 3600 IN CNAME mail.example.org.\n"
    )
    problems = check_zone(zone(records))
    assert len(problems) == 1
    assert problems[0].record == "example.org. MX 10 smtp.example.org."
    assert "is a CNAME" in str(problems[0])
    assert "canonical name" in str(problems[0])


def test_k22_mx_ip_literal_rejected() -> None:
    problems = check_zone(zone("example.org. 3600 IN MX 10 192.0.2.40.\n"))
    assert len(problems) == 1
    assert problems[0].record == "example.org. MX 10 192.0.2.40."
    assert "is an IP address" in str(problems[0])


def test_k22_mx_without_address_rejected() -> None:
    problems = check_zone(zone("example.org. 3600 IN MX 10 mx9.example.org.\n"))
    assert len(problems) == 1
    assert "has no A or AAAA record" in str(problems[0])


def test_mx_target_resolved_across_zones() -> None:
    other = zone(
        "",
        head=HEAD.replace("example.org", "example.net").replace(
            "mail.example.net", "mx.example.net"
        ),
        origin="example.net",
    )
    main = zone("example.org. 3600 IN MX 10 mx.example.net.\n")
    assert check_zones({"example.org": main, "example.net": other}) == []
    broken = zone("example.org. 3600 IN MX 10 mx2.example.net.\n")
    problems = check_zones({"example.org": broken, "example.net": other})
    assert "mx2.example.net. has no A or AAAA record" in str(problems[0])


def test_outside_target_not_checked() -> None:
    assert check_zone(zone("example.org. 3600 IN MX 10 mx.elsewhere.test.\n")) == []


def test_k19_spf_counts() -> None:
    assert spf_lookup_count("v=spf1 mx -all", lambda name: None) == 1
    eleven = "v=spf1 " + " ".join(f"a:h{i}.example.org" for i in range(11)) + " -all"
    assert spf_lookup_count(eleven, lambda name: None) == 11
    assert spf_problem("v=spf1 mx -all") is None
    problem = spf_problem(eleven)
    assert problem is not None
    assert "needs 11 DNS lookups" in problem


def test_k19_spf_record_rejected_in_zone() -> None:
    ten = " ".join(f"a:h{i}.example.org" for i in range(10))
    assert check_zone(zone(f'example.org. 3600 IN TXT "v=spf1 {ten} -all"\n')) == []
    eleven = ten + " mx"
    problems = check_zone(zone(f'example.org. 3600 IN TXT "v=spf1 {eleven} -all"\n'))
    assert len(problems) == 1
    assert "needs 11 DNS lookups" in str(problems[0])
    assert "at most 10" in str(problems[0])


def test_k19_spf_include_counted_recursively() -> None:
    nine = " ".join(f"a:h{i}.example.org" for i in range(9))
    records = (
        'example.org. 3600 IN TXT "v=spf1 mx include:_spf.example.org -all"\n'
        f'_spf.example.org. 3600 IN TXT "v=spf1 {nine} -all"\n'
    )
    problems = check_zone(zone(records))
    assert [p.record for p in problems] == [
        'example.org. TXT "v=spf1 mx include:_spf.example.org -all"'
    ]
    assert "needs 11 DNS lookups" in str(problems[0])


def test_spf_include_loop_reported() -> None:
    records = (
        'example.org. 3600 IN TXT "v=spf1 include:_a.example.org -all"\n'
        '_a.example.org. 3600 IN TXT "v=spf1 include:example.org -all"\n'
    )
    problems = check_zone(zone(records))
    assert "include loop" in str(problems[0])


def test_spf_redirect_ignored_with_all() -> None:
    assert spf_lookup_count("v=spf1 mx redirect=x.example -all", lambda n: None) == 1
    assert spf_lookup_count("v=spf1 mx redirect=x.example", lambda n: None) == 2


def test_two_spf_records_rejected() -> None:
    records = (
        'example.org. 3600 IN TXT "v=spf1 mx -all"\n'
        'example.org. 3600 IN TXT "v=spf1 a -all"\n'
    )
    problems = check_zone(zone(records))
    assert problems[0].record == "example.org. TXT"
    assert "more than one SPF record" in str(problems[0])


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("v=spf1 mx bogus -all", "unknown SPF mechanism"),
        ("v=spf1 include -all", "needs a domain"),
        ("v=spf1 ip4:2001:db8::1 -all", "needs an IPv4 address"),
        ("v=spf1 ip4:192.0.2.300 -all", "invalid IPv4"),
        ("v=spf1 redirect=a.example redirect=b.example", "appears twice"),
    ],
)
def test_spf_syntax_rejected(value: str, reason: str) -> None:
    problem = spf_problem(value)
    assert problem is not None
    assert reason in problem


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("v=DMARC1; rua=mailto:d@example.org; p=reject", "first tag after v=DMARC1"),
        ("v=DMARC1; p=reject; sp=rejcet", "invalid DMARC policy sp=rejcet"),
        ("v=DMARC1; p=rejected", "invalid DMARC policy p=rejected"),
        ("v=DMARC1; p=none; pct=150", "invalid DMARC pct=150"),
        ("v=DMARC1; p=none; rua=d@example.org", "invalid report address"),
        ("v=dmarc1; p=none", "must start with 'v=DMARC1;'"),
    ],
)
def test_k23_dmarc_rejected(value: str, reason: str) -> None:
    problems = check_zone(zone(f'_dmarc.example.org. 3600 IN TXT "{value}"\n'))
    assert len(problems) == 1
    assert problems[0].record == f'_dmarc.example.org. TXT "{value}"'
    assert reason in str(problems[0])


def test_k18_dkim_mismatch_detected(tmp_path: Path) -> None:
    published = write_key(tmp_path / "published.pem")
    signing = write_key(tmp_path / "signing.pem")
    name = "s1._domainkey.example.org."
    value = dkim_txt_value(published)
    records = f'{name} 3600 IN TXT "{value[:200]}" "{value[200:]}"\n'
    assert check_zone(zone(records), dkim_keys={name: published}) == []
    problems = check_zone(zone(records), dkim_keys={name: signing})
    assert len(problems) == 1
    assert problems[0].record == f"{name} TXT"
    assert "does not match the private key" in str(problems[0])
    assert str(signing) in str(problems[0])


def test_dkim_record_syntax() -> None:
    name = "s1._domainkey.example.org."
    bad_base64 = check_zone(zone(f'{name} 3600 IN TXT "v=DKIM1; k=rsa; p=%%%"\n'))
    assert "not valid base64" in str(bad_base64[0])
    short = check_zone(zone(f'{name} 3600 IN TXT "v=DKIM1; k=ed25519; p=AAAA"\n'))
    assert "must be 32 bytes, not 3" in str(short[0])
    no_key = check_zone(zone(f'{name} 3600 IN TXT "v=DKIM1; k=rsa"\n'))
    assert "no p= tag" in str(no_key[0])


def test_written_zone_tampered_key_found(tmp_path: Path) -> None:
    key = write_key(tmp_path / "key.pem")
    name = "s1._domainkey.example.org."
    value = dkim_txt_value(key)
    good = zone(f'{name} 3600 IN TXT "{value[:250]}" "{value[250:]}"\n')
    directory = tmp_path / "zones"
    today = datetime.date(2026, 1, 2)
    write_zones({"example.org": good}, directory, dkim_keys={name: key}, today=today)
    assert check_zone_files(directory, {name: key}) == []
    path = directory / "example.org.zone"
    index = path.read_text().index("p=") + 40
    text = path.read_text()
    flipped = "B" if text[index] != "B" else "C"
    path.write_text(text[:index] + flipped + text[index + 1 :])
    problems = check_zone_files(directory, {name: key})
    assert [p.record for p in problems] == [f"{name} TXT"]


def test_write_refuses_bad_zone(tmp_path: Path) -> None:
    bad = zone("example.org. 3600 IN MX 10 192.0.2.40.\n")
    with pytest.raises(ZoneError, match="is an IP address"):
        write_zones({"example.org": bad}, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_unparsable_file_reported(tmp_path: Path) -> None:
    (tmp_path / "example.org.zone").write_text("example.org. IN MX nonsense\n")
    problems = check_zone_files(tmp_path)
    assert len(problems) == 1
    assert "does not parse" in str(problems[0])


def test_empty_directory_reported(tmp_path: Path) -> None:
    problems = check_zone_files(tmp_path)
    assert "contains no zone files" in str(problems[0])
