"""Backup MX on the lab: mx2 queues mail for alpha.test while mx1 is down.

The scenario runs once per module: mx1's Exim is stopped, inbox sends mail
for alpha.test to mx2 (directly, and through its own Exim by MX fallback),
mx1 comes back, and a queue run on mx2 delivers everything. The tests then
check what each step returned.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from lab_mail_helpers import (
    SmtpReplies,
    exim,
    mailbox_messages,
    mainlog,
    make_message,
    message_tokens,
    queue_count,
    run_in_namespace,
    smtp_transaction,
    start_exim,
    stop_exim,
    submit,
    wait_for_empty_queue,
    wait_until,
)

from eximctl import cli_queue
from eximctl.cli import Context
from eximctl.errors import LabError
from eximctl.files import render_configure
from eximctl.lab.control import NamespaceStatus
from eximctl.lab.hosts import find_host
from eximctl.lab.mail import lab_site
from eximctl.site import bundled_site_path, load_site

pytest_plugins = ["lab_fixtures"]

pytestmark = [
    pytest.mark.lab,
    pytest.mark.exim,
]

MX2 = "192.0.2.12"
SENDER = "carol@inbox.test"
# Messages sent straight to mx2, alternating between the two accounts.
DIRECT_COUNT = 5
ACCOUNTS = ("ann", "amy")
MX2_SITE = bundled_site_path("lab/mx2")


@dataclass
class Outage:
    """What the backup scenario observed, step by step."""

    run: str
    tokens: dict[str, str] = field(default_factory=dict)  # token -> account
    replies: list[SmtpReplies] = field(default_factory=list)
    unknown: SmtpReplies | None = None
    fallback_token: str = ""
    queued_while_down: int = -1
    retry_records: str = ""
    queue_run_output: str = ""
    delivered: dict[str, dict[str, int]] = field(default_factory=dict)
    queued_after_run: int = -1


def _send_while_mx1_down(outage: Outage) -> None:
    for i in range(DIRECT_COUNT):
        account = ACCOUNTS[i % len(ACCOUNTS)]
        token = f"k24-{outage.run}-{i}"
        recipient = f"{account}@alpha.test"
        message = make_message(SENDER, recipient, token)
        outage.replies.append(
            smtp_transaction("inbox", MX2, SENDER, [recipient], message)
        )
        outage.tokens[token] = account
    outage.unknown = smtp_transaction("inbox", MX2, SENDER, ["nobody@alpha.test"])

    # A real MTA: inbox's Exim finds mx1 refusing and falls back to mx2.
    outage.fallback_token = f"k24-{outage.run}-mta"
    outage.tokens[outage.fallback_token] = "ann"
    submit(
        "inbox",
        SENDER,
        "ann@alpha.test",
        make_message(SENDER, "ann@alpha.test", outage.fallback_token),
    )


def _retry_records(host: str) -> str:
    site = lab_site(find_host(host))
    dump = f"{site.bin_directory}/exim_dumpdb"
    result = run_in_namespace(host, [dump, site.spool_directory, "retry"])
    assert result.returncode == 0, result.stderr
    return result.stdout


def _delivered(tokens: dict[str, str]) -> dict[str, dict[str, int]]:
    counts = {account: message_tokens("mx1", account) for account in ACCOUNTS}
    return {t: {a: counts[a][t] for a in ACCOUNTS} for t in tokens}


def _all_arrived(delivered: dict[str, dict[str, int]]) -> bool:
    return all(sum(counts.values()) >= 1 for counts in delivered.values())


@pytest.fixture(scope="module")
def outage(lab_full: list[NamespaceStatus]) -> Outage:
    outage = Outage(run=uuid.uuid4().hex[:8])
    stop_exim("mx1")
    _send_while_mx1_down(outage)
    outage.queued_while_down = queue_count("mx2")
    outage.retry_records = _retry_records("mx2")

    start_exim("mx1")
    result = CliRunner().invoke(
        cli_queue.queue, ["run", "--host", "mx2"], obj=Context(None, 0, False)
    )
    assert result.exit_code == 0, result.output
    outage.queue_run_output = result.output

    wait_until(lambda: _delivered(outage.tokens), _all_arrived, 30, "delivery")
    outage.queued_after_run = wait_for_empty_queue("mx2")
    # Counted again once mx2's queue is empty, so a late duplicate shows.
    outage.delivered = _delivered(outage.tokens)
    return outage


def test_k24_valid_rcpt_gets_250(outage: Outage) -> None:
    for replies in outage.replies:
        for recipient, (code, text) in replies.rcpt.items():
            assert code == 250, f"{recipient}: {code} {text}"
        assert replies.data is not None
        assert replies.data[0] == 250, replies.data


def test_k24_unknown_user_gets_550(outage: Outage) -> None:
    assert outage.unknown is not None
    assert outage.unknown.rcpt_code("nobody@alpha.test") == 550


def test_k24_mail_queued_at_backup(outage: Outage) -> None:
    assert outage.queued_while_down == DIRECT_COUNT + 1


def test_k24_mta_falls_back_to_backup(outage: Outage) -> None:
    log = mainlog("inbox")
    assert re.search(r"H=mx1\.alpha\.test \[192\.0\.2\.11\]:25 Connection refused", log)
    delivered = [
        line
        for line in log.splitlines()
        if "=> ann@alpha.test" in line and "H=mx2.beta.test [192.0.2.12]" in line
    ]
    assert len(delivered) == 1, log
    received = [
        line
        for line in mainlog("mx2").splitlines()
        if f"id={outage.fallback_token}@inbox.test" in line
    ]
    assert len(received) == 1


def test_k24_nothing_bounced(outage: Outage) -> None:
    assert " ** " not in mainlog("mx2")
    assert mailbox_messages("inbox", "carol") == []


def test_k24_queue_run_delivers_each_once(outage: Outage) -> None:
    for token, account in outage.tokens.items():
        expected = {a: int(a == account) for a in ACCOUNTS}
        assert outage.delivered[token] == expected, token


def test_k24_backup_queue_empty_after_run(outage: Outage) -> None:
    assert outage.queued_after_run == 0
    queued = DIRECT_COUNT + 1
    assert f"{queued} messages queued before" in outage.queue_run_output


def test_queue_run_rejects_host_without_exim() -> None:
    result = CliRunner().invoke(
        cli_queue.queue, ["run", "--host", "dns"], obj=Context(None, 0, False)
    )
    assert isinstance(result.exception, LabError)
    assert "lab host dns runs no Exim" in str(result.exception)


def test_k25_backup_retry_rule_keeps_days() -> None:
    text = render_configure(load_site(MX2_SITE))
    rule = next(line for line in text.splitlines() if line.startswith("alpha.test "))
    final = re.findall(r"F,(\d+)d,", rule)
    assert final and int(final[-1]) >= 5, rule


@pytest.mark.usefixtures("outage")
def test_k25_backup_retry_applies_to_primary_host() -> None:
    rule = exim("mx2", "-brt", "ann@alpha.test")
    assert rule.stdout.startswith("Retry rule: alpha.test "), rule.stdout
    assert "F,1w3d," in rule.stdout


def test_k25_primary_host_retried_by_backup_rule(outage: Outage) -> None:
    # The backup rule retries every 10 minutes at first; the general rule
    # would wait 15, so the interval shows which rule the host error used.
    record = re.search(
        r"T:mx1\.alpha\.test:192\.0\.2\.11 .*\n(.+)", outage.retry_records
    )
    assert record, outage.retry_records
    times = re.findall(r"\d\d-\w{3}-\d{4} \d\d:\d\d:\d\d", record.group(1))
    first, _, following = (datetime.strptime(t, "%d-%b-%Y %H:%M:%S") for t in times)
    assert following - first == timedelta(minutes=10)


@dataclass
class CalloutProbe:
    """RCPT replies of mx2 when it verifies alpha.test recipients by callout."""

    down: SmtpReplies
    queued_token: str
    up: SmtpReplies
    delivered: int


def _callout_site(directory: Path) -> Path:
    """Write mx2's site without the alpha.test recipient list."""
    text = MX2_SITE.read_text()
    text, count = re.subn(r"(?m)^recipients = .*\n", "", text)
    assert count == 1
    path = directory / "mx2-callout.toml"
    path.write_text(text)
    return path


def _restart_count() -> int:
    return mainlog("mx2").count("daemon started")


def _reconfigure_mx2(site_path: Path) -> None:
    before = _restart_count()
    assert start_exim("mx2", load_site(site_path)) == "reloaded"
    wait_until(_restart_count, lambda n: n > before, 10, "mx2 reload")
    wait_until(
        lambda: smtp_transaction("inbox", MX2, SENDER, ["postmaster@beta.test"]),
        lambda r: r.rcpt_code("postmaster@beta.test") == 250,
        10,
        "mx2 answering after reload",
    )


@pytest.fixture(scope="module")
def callout(
    outage: Outage, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[CalloutProbe]:
    _reconfigure_mx2(_callout_site(tmp_path_factory.mktemp("sites")))
    try:
        stop_exim("mx1")
        recipients = ["ann@alpha.test", "nobody@alpha.test"]
        down = smtp_transaction("inbox", MX2, SENDER, recipients)
        token = f"k24-{outage.run}-callout"
        message = make_message(SENDER, "amy@alpha.test", token)
        smtp_transaction("inbox", MX2, SENDER, ["amy@alpha.test"], message)

        start_exim("mx1")
        up = smtp_transaction("inbox", MX2, SENDER, recipients)
        assert exim("mx2", "-qff").returncode == 0
        delivered = wait_until(
            lambda: message_tokens("mx1", "amy")[token],
            lambda n: n >= 1,
            30,
            "delivery of the callout-accepted message",
        )
        yield CalloutProbe(down, token, up, delivered)
    finally:
        _reconfigure_mx2(MX2_SITE)


def test_k24_callout_primary_down_accepts(callout: CalloutProbe) -> None:
    assert callout.down.rcpt_code("ann@alpha.test") == 250
    # defer_ok: without the primary, the backup cannot tell who exists.
    assert callout.down.rcpt_code("nobody@alpha.test") == 250


def test_k24_callout_primary_up_rejects_unknown(callout: CalloutProbe) -> None:
    assert callout.up.rcpt_code("ann@alpha.test") == 250
    assert callout.up.rcpt_code("nobody@alpha.test") == 550


def test_k24_callout_queued_message_delivered(callout: CalloutProbe) -> None:
    assert callout.delivered == 1
    assert wait_for_empty_queue("mx2") == 0
