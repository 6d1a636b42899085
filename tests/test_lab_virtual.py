"""The virtual domain sub.alpha.test on mx1, and postmaster on every lab host.

sub.alpha.test has its own MX and an alias map of its own. Only that map
routes it, so system accounts do not exist there and unknown addresses are
rejected at RCPT.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from lab_mail_helpers import (
    exim,
    mainlog,
    make_message,
    message_tokens,
    smtp_transaction,
    submit,
    wait_for_empty_queue,
    wait_until,
)

from eximctl.lab.control import NamespaceStatus
from eximctl.lab.hosts import find_host, mail_hosts
from eximctl.lab.mail import lab_site

pytest_plugins = ["lab_fixtures"]

pytestmark = [
    pytest.mark.lab,
    pytest.mark.exim,
]

MX1 = "192.0.2.11"
SENDER = "carol@inbox.test"
ACCOUNTS = ("ann", "amy")
# Each address gets a message of its own, so Exim cannot merge two
# recipients that lead to the same mailbox into one delivery.
EXPECTED = {
    "info@sub.alpha.test": "amy",
    "sales@sub.alpha.test": "ann",
    "postmaster@sub.alpha.test": "ann",
    "Postmaster@sub.alpha.test": "ann",
    "ann@alpha.test": "ann",
}
REJECTED = ["nobody@sub.alpha.test", "daemon@sub.alpha.test", "root@sub.alpha.test"]


def _counts(tokens: dict[str, str]) -> dict[str, dict[str, int]]:
    boxes = {account: message_tokens("mx1", account) for account in ACCOUNTS}
    return {t: {a: boxes[a][t] for a in ACCOUNTS} for t in tokens}


def _all_arrived(counts: dict[str, dict[str, int]]) -> bool:
    return all(sum(c.values()) >= 1 for c in counts.values())


@pytest.fixture(scope="module")
def deliveries(lab_full: list[NamespaceStatus]) -> dict[str, tuple[str, str, int]]:
    """Send one message per address; map each token to address, account, code."""
    run = uuid.uuid4().hex[:8]
    sent: dict[str, tuple[str, str, int]] = {}
    for i, (address, account) in enumerate(EXPECTED.items()):
        token = f"k05-{run}-{i}"
        message = make_message(SENDER, address, token)
        replies = smtp_transaction("inbox", MX1, SENDER, [address], message)
        sent[token] = (address, account, replies.rcpt_code(address))

    # inbox's own Exim finds mx1 through the MX record of sub.alpha.test.
    token = f"k05-{run}-mx"
    submit("inbox", SENDER, "info@sub.alpha.test", make_message(SENDER, "x", token))
    sent[token] = ("info@sub.alpha.test", "amy", 250)

    accounts = {t: account for t, (_, account, _) in sent.items()}
    wait_until(lambda: _counts(accounts), _all_arrived, 30, "delivery at mx1")
    wait_for_empty_queue("mx1")
    return sent


def test_k05_rcpt_accepted_for_aliases(
    deliveries: dict[str, tuple[str, str, int]],
) -> None:
    for address, _, code in deliveries.values():
        assert code == 250, address


def test_k05_each_alias_delivered_once(
    deliveries: dict[str, tuple[str, str, int]],
) -> None:
    accounts = {t: account for t, (_, account, _) in deliveries.items()}
    counts = _counts(accounts)
    for token, (address, account, _) in deliveries.items():
        expected = {a: int(a == account) for a in ACCOUNTS}
        assert counts[token] == expected, address


def test_k05_own_mx_used_by_sender(
    deliveries: dict[str, tuple[str, str, int]],
) -> None:
    lines = [
        line
        for line in mainlog("inbox").splitlines()
        if "=> info@sub.alpha.test" in line
    ]
    assert len(lines) == 1
    assert "H=mx1.alpha.test [192.0.2.11]" in lines[0]


def test_k05_unknown_and_system_rejected(lab_full: list[NamespaceStatus]) -> None:
    replies = smtp_transaction("inbox", MX1, SENDER, REJECTED)
    for address in REJECTED:
        assert replies.rcpt_code(address) == 550, address
    assert replies.data is None


def test_k07_virtual_delivery_not_tainted(
    deliveries: dict[str, tuple[str, str, int]],
) -> None:
    # A file name built from tainted data makes Exim log a "Tainted" error.
    assert "tainted" not in mainlog("mx1").lower()
    site = lab_site(find_host("mx1"))
    panic = Path(site.log_directory) / "paniclog"
    assert not panic.exists() or panic.read_text() == ""


@pytest.mark.parametrize("host", [h.name for h in mail_hosts()])
def test_k05_postmaster_routes_for_every_domain(
    lab_full: list[NamespaceStatus], host: str
) -> None:
    site = lab_site(find_host(host))
    domains = [site.host.name] + [d.name for d in site.domains]
    for domain in domains:
        result = exim(host, "-bt", f"Postmaster@{domain}")
        assert result.returncode == 0, (domain, result.stdout, result.stderr)
        assert "undeliverable" not in result.stdout, (domain, result.stdout)


@pytest.mark.parametrize("host", [h.name for h in mail_hosts()])
def test_k05_bare_postmaster_accepted(
    lab_full: list[NamespaceStatus], host: str
) -> None:
    address = find_host(host).address
    replies = smtp_transaction("inbox", address, SENDER, ["Postmaster"])
    assert replies.rcpt_code("Postmaster") == 250
