"""The lab DNS: NSD serves the generated zones, as the sites describe them."""

from __future__ import annotations

import json

import pytest
from lab_helpers import python_in_namespace

from eximctl.dkim_keys import dkim_key_path, dkim_txt_value
from eximctl.lab.control import NamespaceStatus
from eximctl.lab.hosts import find_host
from eximctl.lab.mail import lab_site

pytestmark = pytest.mark.lab

# Queries the lab resolver from inside a namespace and prints JSON:
# {name: {rdtype: [text, ...]}}; TXT strings are joined as DNS clients do.
QUERY = r"""
import json, sys
import dns.resolver
answers = {}
for name, rdtype in json.loads(sys.argv[1]):
    try:
        rrset = dns.resolver.resolve(name, rdtype)
    except dns.resolver.NXDOMAIN:
        values = ["NXDOMAIN"]
    else:
        if rdtype == "TXT":
            values = [b"".join(r.strings).decode() for r in rrset]
        else:
            values = sorted(r.to_text() for r in rrset)
    answers.setdefault(name, {})[rdtype] = values
print(json.dumps(answers))
"""


def query(
    host: str, questions: list[tuple[str, str]]
) -> dict[str, dict[str, list[str]]]:
    code = (
        f"import sys; sys.argv = ['q', {json.dumps(json.dumps(questions))}]\n" + QUERY
    )
    result = python_in_namespace(host, code)
    assert result.returncode == 0, result.stderr
    answers: dict[str, dict[str, list[str]]] = json.loads(result.stdout)
    return answers


def test_mx_records_match_sites(lab_full: list[NamespaceStatus]) -> None:
    answers = query(
        "mx1",
        [("alpha.test", "MX"), ("beta.test", "MX"), ("sub.alpha.test", "MX")],
    )
    assert answers["alpha.test"]["MX"] == ["10 mx1.alpha.test.", "20 mx2.beta.test."]
    assert answers["beta.test"]["MX"] == ["10 mx2.beta.test.", "20 mx1.alpha.test."]
    assert answers["sub.alpha.test"]["MX"] == ["10 mx1.alpha.test."]


def test_txt_records_match_sites(lab_full: list[NamespaceStatus]) -> None:
    site = lab_site(find_host("mx1"))
    alpha = next(d for d in site.domains if d.name == "alpha.test")
    answers = query(
        "mx1",
        [
            ("alpha.test", "TXT"),
            ("_dmarc.alpha.test", "TXT"),
            ("sub.alpha.test", "TXT"),
            ("beta.test", "TXT"),
        ],
    )
    assert answers["alpha.test"]["TXT"] == [alpha.spf]
    assert answers["_dmarc.alpha.test"]["TXT"] == [alpha.dmarc]
    assert answers["sub.alpha.test"]["TXT"] == ["v=spf1 mx -all"]
    assert answers["beta.test"]["TXT"] == ["v=spf1 mx -all"]


def test_k18_dkim_record_matches_private_key(lab_full: list[NamespaceStatus]) -> None:
    site = lab_site(find_host("mx1"))
    assert site.dkim is not None
    name = f"{site.dkim.selector}._domainkey.alpha.test"
    answers = query("inbox", [(name, "TXT")])
    expected = dkim_txt_value(dkim_key_path(site, "alpha.test"))
    assert answers[name]["TXT"] == [expected]


def test_mx_targets_resolve_to_lab_addresses(lab_full: list[NamespaceStatus]) -> None:
    answers = query(
        "inbox",
        [("mx1.alpha.test", "A"), ("mx2.beta.test", "A"), ("smtp.relay.test", "A")],
    )
    assert answers["mx1.alpha.test"]["A"] == ["192.0.2.11"]
    assert answers["mx2.beta.test"]["A"] == ["192.0.2.12"]
    assert answers["smtp.relay.test"]["A"] == ["192.0.2.25"]


def test_unknown_name_is_nxdomain(lab_full: list[NamespaceStatus]) -> None:
    answers = query("mx1", [("nothing.alpha.test", "A")])
    assert answers["nothing.alpha.test"]["A"] == ["NXDOMAIN"]
