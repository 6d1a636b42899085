"""A mail loop on the lab ends in a bounce to the sender after bounded hops.

mx1 aliases loop@alpha.test to loop@beta.test and mx2 aliases it back, so a
message to either address travels between them until one host counts more
Received headers than its received_headers_max and rejects it.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from email.message import Message

import pytest
from lab_mail_helpers import (
    mailbox_messages,
    mainlog,
    make_message,
    queue_count,
    submit,
    wait_for_empty_queue,
    wait_until,
)

from eximctl.lab.control import NamespaceStatus
from eximctl.lab.hosts import find_host
from eximctl.lab.mail import lab_site

pytest_plugins = ["lab_fixtures"]

pytestmark = [
    pytest.mark.lab,
    pytest.mark.exim,
]

SENDER = "carol@inbox.test"
LOOP_HOSTS = ("mx1", "mx2")
# The text of Exim's own loop failure, which the DATA ACL reuses.
LOOP_REASON = 'Too many "Received" headers - suspected mail loop'


@dataclass(frozen=True)
class LoopResult:
    """What the lab logged and delivered for one looping message."""

    token: str
    bounces: list[Message]
    receptions: int  # "<=" lines for the message on mx1 and mx2
    deliveries: int  # "=>" lines for it on inbox, mx1 and mx2


def _received_headers_max() -> int:
    return min(
        lab_site(find_host(host)).daemon.received_headers_max for host in LOOP_HOSTS
    )


def _exim_ids(log: str, token: str) -> set[str]:
    """Return the Exim message ids under which ``log`` received the token."""
    pattern = re.compile(
        rf"^\S+ \S+ (\S+) <= .* id={token}@inbox\.test\b", re.MULTILINE
    )
    return set(pattern.findall(log))


def _count_deliveries(log: str, ids: set[str]) -> int:
    return sum(
        1 for line in log.splitlines() if " => " in line and line.split()[2] in ids
    )


@pytest.fixture(scope="module")
def loop(lab_full: list[NamespaceStatus]) -> LoopResult:
    token = f"k26-{uuid.uuid4().hex[:8]}"
    # carol's provider sends it, as it would for a message she wrote.
    submit("inbox", SENDER, "loop@alpha.test", make_message(SENDER, "x", token))

    bounces = wait_until(
        lambda: mailbox_messages("inbox", "carol"), bool, 60, "bounce to carol"
    )
    for host in (*LOOP_HOSTS, "inbox"):
        wait_for_empty_queue(host)

    receptions = 0
    deliveries = 0
    for host in (*LOOP_HOSTS, "inbox"):
        log = mainlog(host)
        ids = _exim_ids(log, token)
        if host != "inbox":
            receptions += len(ids)
        deliveries += _count_deliveries(log, ids)
    return LoopResult(token, bounces, receptions, deliveries)


def _returned_message(bounce: Message) -> Message:
    for part in bounce.walk():
        if part.get_content_type() == "message/rfc822":
            payload = part.get_payload()
            assert isinstance(payload, list)
            returned = payload[0]
            assert isinstance(returned, Message)
            return returned
    raise AssertionError("the bounce does not contain the returned message")


def test_k26_loop_bounces_to_sender(loop: LoopResult) -> None:
    assert len(loop.bounces) == 1
    bounce = loop.bounces[0]
    assert bounce["Return-path"] == "<>"
    assert bounce["To"] == SENDER
    assert bounce["X-Failed-Recipients"] in ("loop@alpha.test", "loop@beta.test")


def test_k26_bounce_states_loop_reason(loop: LoopResult) -> None:
    first_part = next(
        part
        for part in loop.bounces[0].walk()
        if part.get_content_type() == "text/plain"
    )
    text = first_part.get_payload()
    assert isinstance(text, str)
    assert LOOP_REASON in text, text


def test_k26_returned_message_is_ours(loop: LoopResult) -> None:
    returned = _returned_message(loop.bounces[0])
    assert returned["Message-ID"] == f"<{loop.token}@inbox.test>"


def test_k26_hops_bounded_by_max(loop: LoopResult) -> None:
    limit = _received_headers_max()
    returned = _returned_message(loop.bounces[0])
    received = len(returned.get_all("Received", []))
    print(
        f"loop: {received} Received headers in the returned message, "
        f"{loop.receptions} messages accepted by mx1 and mx2, "
        f"{loop.deliveries} deliveries, received_headers_max {limit}"
    )
    assert loop.deliveries <= limit
    # The host that returned the message held it with exactly the maximum,
    # because the next host counted one more and rejected it.
    assert received == limit
    # inbox added the first Received header, mx1 and mx2 one each.
    assert loop.receptions == limit - 1


def test_k26_queues_empty_after_bounce(loop: LoopResult) -> None:
    for host in (*LOOP_HOSTS, "inbox"):
        assert queue_count(host) == 0, host
