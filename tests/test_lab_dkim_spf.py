"""DKIM signing on mx1 and SPF checks at inbox, judged independently of Exim.

The delivered message is verified inside the inbox namespace with dkimpy
and pyspf against the lab name server, so the verdict does not come from
Exim. The lab runs on the generated zones plus one extra zone, soft.test,
whose SPF record ends in "~all" and so gives a softfail for every client.
"""

from __future__ import annotations

import grp
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lab_fixtures import ensure_lab_exim
from lab_helpers import python_in_namespace, require_root
from lab_outbound import (
    MainLog,
    deliver,
    message_token,
    site,
    submit,
    wait_for_delivery,
)
from lab_smtp import codes, probe

from eximctl.configure import configure_site
from eximctl.context import dkim_keys_file
from eximctl.dkim_keys import dkim_key_path, generate_dkim_key
from eximctl.errors import KeyPermissionError
from eximctl.lab.control import NamespaceStatus, lab_down, lab_up
from eximctl.lab.hosts import NAMESERVER
from eximctl.lab.mail import LAB_RELAY_PASSWORD, LAB_RELAY_USER, lab_ca
from eximctl.lab.zones import generate_zones

pytestmark = [
    pytest.mark.lab,
    pytest.mark.exim,
]

RELAY_IP = "192.0.2.25"
SOFTFAIL_ZONE = """\
$ORIGIN soft.test.
$TTL 300
@    IN SOA ns.lab.test. hostmaster.soft.test. 2026010101 3600 600 86400 300
@    IN NS  ns.lab.test.
@    IN TXT "v=spf1 ~all"
"""

EVIDENCE = """
import json
from pathlib import Path
from eximctl.mail_checks import delivery_evidence, mbox_messages

token = {token!r}
messages = [m for m in mbox_messages(Path({mbox!r})) if token.encode() in m]
evidence = delivery_evidence(messages[0], {client!r}, {helo!r}, {nameserver!r})
print(json.dumps({{
    "dkim_pass": evidence.dkim_pass,
    "spf_result": evidence.spf_result,
    "authentication_results": evidence.authentication_results,
    "report": evidence.report(),
}}))
"""


@pytest.fixture(scope="module")
def lab_with_softfail(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[list[NamespaceStatus]]:
    """Run the whole lab on the generated zones plus the soft.test zone."""
    require_root()
    ensure_lab_exim()
    zones = tmp_path_factory.mktemp("zones")
    generate_zones(zones)
    (zones / "soft.test.zone").write_text(SOFTFAIL_ZONE)
    lab_down()
    try:
        yield lab_up(zones, with_mail=True)
    finally:
        lab_down()


def evidence_at_inbox(token: str) -> dict[str, Any]:
    """Check the delivered message with dkimpy and pyspf inside inbox."""
    code = EVIDENCE.format(
        token=token,
        mbox=str(Path(site("inbox").delivery.mail_directory) / "carol"),
        client=RELAY_IP,
        helo="smtp.relay.test",
        nameserver=NAMESERVER,
    )
    result = python_in_namespace("inbox", code)
    assert result.returncode == 0, result.stderr
    evidence: dict[str, Any] = json.loads(result.stdout)
    return evidence


def test_outbound_dkim_and_spf_pass_at_inbox(
    lab_with_softfail: list[NamespaceStatus],
) -> None:
    inbox_log = MainLog("inbox")
    message_id = submit("dkim and spf")
    token = message_token(message_id)
    deliver(message_id)
    message = wait_for_delivery(token)

    evidence = evidence_at_inbox(token)

    print(evidence["report"])
    headers = message.split(b"\n\n", 1)[0].decode()
    assert "DKIM-Signature: v=1; a=rsa-sha256;" in headers
    assert " d=alpha.test;" in headers
    assert "s=lab2026;" in headers
    received_spf = headers.index("Received-SPF: pass (mx.inbox.test:")
    assert received_spf < headers.index("Received: from [192.0.2.25]")
    assert evidence["dkim_pass"] is True
    assert evidence["spf_result"] == "pass"
    inbox_results = [
        r for r in evidence["authentication_results"] if r.startswith("mx.inbox.test;")
    ]
    assert len(inbox_results) == 1, evidence["authentication_results"]
    assert "dkim=pass header.d=alpha.test header.s=lab2026" in inbox_results[0]
    assert "spf=pass smtp.mailfrom=alpha.test" in inbox_results[0]
    inbox_log.wait_for(r"<= ann@alpha\.test H=\(smtp\.relay\.test\) .*DKIM=alpha\.test")


def test_pyspf_judges_relay_and_mx2(lab_with_softfail: list[NamespaceStatus]) -> None:
    code = f"""
from eximctl.mail_checks import check_spf
for ip, sender, helo in [
    ("192.0.2.25", "ann@alpha.test", "smtp.relay.test"),
    ("192.0.2.12", "x@relay.test", "mx2.beta.test"),
    ("192.0.2.12", "x@soft.test", "mx2.beta.test"),
]:
    print(check_spf(ip, sender, helo, {NAMESERVER!r})[0])
"""
    result = python_in_namespace("inbox", code)

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["pass", "fail", "softfail"]


def test_k20_spf_fail_rejected_at_rcpt(
    lab_with_softfail: list[NamespaceStatus],
) -> None:
    result = probe(
        "mx2",
        address="192.0.2.30",
        port=25,
        steps=[
            ["ehlo", "mx2.beta.test"],
            ["mail", "<x@relay.test>"],
            ["rcpt", "<carol@inbox.test>"],
            ["quit", None],
        ],
    )

    rcpt = result["replies"][2]
    assert rcpt["code"] == 550, rcpt
    assert "SPF check failed" in rcpt["text"]
    assert "192.0.2.12" in rcpt["text"]


def test_k20_softfail_only_marked(lab_with_softfail: list[NamespaceStatus]) -> None:
    token = os.urandom(8).hex()
    message = (
        f"From: x@soft.test\r\nTo: carol@inbox.test\r\nSubject: {token}\r\n\r\nsoft\r\n"
    )
    result = probe(
        "mx2",
        address="192.0.2.30",
        port=25,
        steps=[
            ["ehlo", "mx2.beta.test"],
            ["mail", "<x@soft.test>"],
            ["rcpt", "<carol@inbox.test>"],
            ["data", message],
            ["quit", None],
        ],
    )

    assert codes(result)[1:4] == [250, 250, 250], result["replies"]
    delivered = wait_for_delivery(token).decode()
    assert "Received-SPF: softfail" in delivered
    assert "spf=softfail smtp.mailfrom=soft.test" in delivered


def test_k20_own_users_never_spf_rejected(
    lab_with_softfail: list[NamespaceStatus],
) -> None:
    # relay.test allows only 192.0.2.25, so mx1 (192.0.2.11) fails its SPF.
    authenticated = probe(
        "mx1",
        address=RELAY_IP,
        port=587,
        server_hostname="smtp.relay.test",
        ca_file="/var/lib/eximctl/lab/ca/ca.crt",
        steps=[
            ["ehlo", "mx1.alpha.test"],
            ["starttls", None],
            ["ehlo", "mx1.alpha.test"],
            ["auth_plain", [LAB_RELAY_USER, LAB_RELAY_PASSWORD]],
            ["mail", "<x@relay.test>"],
            ["rcpt", "<carol@inbox.test>"],
            ["quit", None],
        ],
    )
    relayed = probe(
        "mx1",
        address="192.0.2.11",
        port=25,
        steps=[
            ["ehlo", "mx1.alpha.test"],
            ["mail", "<x@relay.test>"],
            ["rcpt", "<carol@inbox.test>"],
            ["quit", None],
        ],
    )
    stranger = probe(
        "mx2",
        address=RELAY_IP,
        port=25,
        steps=[
            ["ehlo", "mx2.beta.test"],
            ["mail", "<x@relay.test>"],
            ["rcpt", "<relayadm@relay.test>"],
            ["quit", None],
        ],
    )

    assert codes(authenticated)[3:6] == [235, 250, 250], authenticated["replies"]
    assert codes(relayed)[1:3] == [250, 250], relayed["replies"]
    # The control: the same sender from a stranger is rejected by SPF.
    assert stranger["replies"][2]["code"] == 550, stranger["replies"]
    assert "SPF check failed" in stranger["replies"][2]["text"]


def test_k15_dkim_key_0600_fails_configure(
    lab_with_softfail: list[NamespaceStatus],
) -> None:
    mx1 = site("mx1")
    key = dkim_key_path(mx1, "alpha.test")
    exim_gid = grp.getgrnam(mx1.build.group).gr_gid
    try:
        os.chown(key, 0, 0)
        os.chmod(key, 0o600)
        with pytest.raises(KeyPermissionError) as raised:
            configure_site(mx1, start_daemon=False, tls_ca=lab_ca(mx1))
        message = str(raised.value)
        assert str(key) in message
        assert f"group {mx1.build.group}" in message
        assert "chmod 0640" in message
    finally:
        os.chown(key, 0, exim_gid)
        os.chmod(key, 0o640)

    configure_site(mx1, start_daemon=False, tls_ca=lab_ca(mx1))
    assert key.stat().st_mode & 0o777 == 0o640


def test_k16_installed_config_signs_from_lookup(
    lab_with_softfail: list[NamespaceStatus],
) -> None:
    mx1 = site("mx1")
    keys_file = dkim_keys_file(mx1)
    text = Path(mx1.configure_file).read_text()
    key_lines = [line for line in text.splitlines() if "dkim_private_key" in line]

    assert key_lines
    for line in key_lines:
        assert line.strip().startswith(
            f"dkim_private_key = ${{lookup{{$dkim_domain}}lsearch{{{keys_file}}}"
        ), line
    keys = Path(keys_file).read_text()
    assert f"alpha.test: {dkim_key_path(mx1, 'alpha.test')}\n" in keys


def test_k18_served_key_matches_private_key(
    lab_with_softfail: list[NamespaceStatus], tmp_path: Path
) -> None:
    other = tmp_path / "other.pem"
    generate_dkim_key(other, "rsa", 1024, "root")
    key = dkim_key_path(site("mx1"), "alpha.test")
    code = f"""
from pathlib import Path
from eximctl.mail_checks import dkim_dns_problem
for path in ({str(key)!r}, {str(other)!r}):
    print(repr(dkim_dns_problem("alpha.test", "lab2026", Path(path), {NAMESERVER!r})))
"""
    result = python_in_namespace("inbox", code)

    assert result.returncode == 0, result.stderr
    matching, mismatching = result.stdout.splitlines()
    assert matching == "None"
    assert "lab2026._domainkey.alpha.test does not match" in mismatching
    assert str(other) in mismatching
