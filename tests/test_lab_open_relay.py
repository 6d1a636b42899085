"""No open relay: outside hosts cannot relay mail through mx1, mx2 or the relay.

Every session runs from the inbox namespace, an outside host. Each tries one
address trick at RCPT, then adds a real local recipient and sends a message,
so that a trick which slipped through would show up as a second recipient in
the log, the queue or the delivered message. example.net does not resolve
in the lab, so a relayed message could only wait in the queue: the tests
look there too.
"""

from __future__ import annotations

import mailbox
import secrets
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lab_smtp import LAB_CA, codes, probe

from eximctl.key_files import PRIVATE_MODE, write_file
from eximctl.lab.control import NamespaceStatus
from eximctl.lab.hosts import LAB_ROOT, find_host
from eximctl.lab.mail import lab_site

pytestmark = pytest.mark.lab

SENDER = "<probe@inbox.test>"
ADDRESSES = {"mx1": "192.0.2.11", "mx2": "192.0.2.12", "relay": "192.0.2.25"}
LOCAL_RECIPIENT = {"mx1": "ann@alpha.test", "mx2": "bob@beta.test"}
RELAY_NOT_PERMITTED = "Relay not permitted"
RESTRICTED = "Restricted characters in address"

# (host, RCPT argument, expected reply code, phrase of the expected reply)
TRICKS = [
    ("mx1", "<victim@example.net>", 550, RELAY_NOT_PERMITTED),
    ("mx1", "victim@example.net", 550, RELAY_NOT_PERMITTED),
    ("mx1", "<VICTIM@EXAMPLE.NET>", 550, RELAY_NOT_PERMITTED),
    ("mx1", "<postmaster@example.net>", 550, RELAY_NOT_PERMITTED),
    ("mx1", "<victim%example.net@alpha.test>", 550, RESTRICTED),
    ("mx1", "<victim%example.net@sub.alpha.test>", 550, RESTRICTED),
    ("mx1", "<victim%example.net@beta.test>", 550, RESTRICTED),
    ("mx1", "<example.net!victim@alpha.test>", 550, RESTRICTED),
    ("mx1", "<@alpha.test:victim@example.net>", 550, RELAY_NOT_PERMITTED),
    ("mx1", '<"victim@example.net"@alpha.test>', 550, RESTRICTED),
    ("mx1", "<victim@example.net@alpha.test>", 501, "malformed address"),
    ("mx1", "<victim@example.net.>", 501, "domain missing or malformed"),
    ("mx1", "<victim@alpha.test.example.net>", 550, RELAY_NOT_PERMITTED),
    ("mx1", "<victim@[192.0.2.11]>", 501, "domain literals not allowed"),
    # beta.test is in relay_to_domains on mx1 (backup MX), but only for the
    # recipients that the site lists.
    ("mx1", "<victim@beta.test>", 550, "Unknown user"),
    ("mx2", "<victim@example.net>", 550, RELAY_NOT_PERMITTED),
    ("mx2", "<victim%example.net@beta.test>", 550, RESTRICTED),
    ("mx2", "<example.net!victim@beta.test>", 550, RESTRICTED),
    ("mx2", "<@beta.test:victim@example.net>", 550, RELAY_NOT_PERMITTED),
    ("mx2", '<"victim@example.net"@beta.test>', 550, RESTRICTED),
    ("mx2", "<victim@example.net@beta.test>", 501, "malformed address"),
    ("mx2", "<victim@[192.0.2.12]>", 501, "domain literals not allowed"),
    ("mx2", "<victim@alpha.test>", 550, "Unknown user"),
]


@pytest.fixture(scope="module")
def trick_results(
    lab_full: list[NamespaceStatus],
) -> dict[tuple[str, str], tuple[str, dict[str, Any]]]:
    """Run every session of TRICKS once; map (host, address) to (token, result)."""
    results = {}
    for host, address, _, _ in TRICKS:
        token = uuid.uuid4().hex
        steps = [
            ["ehlo", None],
            ["mail", SENDER],
            ["rcpt", address],
            ["rcpt", f"<{LOCAL_RECIPIENT[host]}>"],
            ["data", message(token, LOCAL_RECIPIENT[host])],
            ["quit", None],
        ]
        result = probe("inbox", address=ADDRESSES[host], port=25, steps=steps)
        results[(host, address)] = (token, result)
    return results


def message(token: str, recipient: str) -> str:
    return (
        f"From: {SENDER[1:-1]}\r\nTo: {recipient}\r\n"
        f"Subject: relay probe {token}\r\nMessage-ID: <{token}@inbox.test>\r\n"
        f"\r\nRelay probe {token}\r\n"
    )


def host_file(host: str, *parts: str) -> Path:
    return LAB_ROOT.joinpath(host, *parts)


def find_delivered(host: str, account: str, token: str, deadline: float = 20.0) -> Any:
    """Return the message with ``token`` from ``account``'s mbox, or None."""
    path = host_file(host, "mail", account)
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if path.exists():
            for item in mailbox.mbox(path):
                if token in str(item["Subject"]):
                    return item
        time.sleep(0.2)
    return None


def exim_in(host: str, *arguments: str) -> str:
    site = lab_site(find_host(host))
    command = [site.exim_binary, "-C", site.configure_file, *arguments]
    completed = subprocess.run(
        ["ip", "netns", "exec", find_host(host).namespace, *command],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    assert completed.returncode == 0, completed.stderr
    return completed.stdout


@pytest.mark.parametrize(("host", "address", "code", "phrase"), TRICKS)
def test_trick_rejected_at_rcpt(
    trick_results: dict[tuple[str, str], tuple[str, dict[str, Any]]],
    host: str,
    address: str,
    code: int,
    phrase: str,
) -> None:
    _, result = trick_results[(host, address)]
    assert "error" not in result, result.get("error")
    ehlo, mail, rcpt, local_rcpt, data, _ = result["replies"]
    assert ehlo["code"] == 250
    assert mail["code"] == 250
    assert rcpt["code"] == code
    assert phrase in rcpt["text"]
    assert local_rcpt["code"] == 250
    assert data["code"] == 250


@pytest.mark.parametrize(("host", "address"), [(t[0], t[1]) for t in TRICKS])
def test_trick_message_only_local(
    trick_results: dict[tuple[str, str], tuple[str, dict[str, Any]]],
    host: str,
    address: str,
) -> None:
    token, _ = trick_results[(host, address)]
    recipient = LOCAL_RECIPIENT[host]
    delivered = find_delivered(host, recipient.split("@")[0], token)
    assert delivered is not None, f"message {token} not delivered to {recipient}"
    assert delivered["Envelope-to"] == recipient


@pytest.mark.parametrize("host", ["mx1", "mx2"])
def test_no_remote_delivery_logged(
    trick_results: dict[tuple[str, str], tuple[str, dict[str, Any]]], host: str
) -> None:
    account = LOCAL_RECIPIENT[host].split("@")[0]
    for (sent_to, _), (token, _) in trick_results.items():
        if sent_to == host:
            assert find_delivered(host, account, token) is not None
    lines = host_file(host, "log", "mainlog").read_text().splitlines()
    deliveries = [line for line in lines if " => " in line or " -> " in line]
    assert deliveries, f"no deliveries at all in the mainlog of {host}"
    for line in deliveries:
        assert "victim" not in line.lower()
        assert "example.net" not in line
        assert "T=local_delivery" in line
    assert not [line for line in lines if "victim" in line.lower() and "<=" in line]


@pytest.mark.parametrize("host", ["mx1", "mx2"])
def test_nothing_queued_for_victim(
    trick_results: dict[tuple[str, str], tuple[str, dict[str, Any]]], host: str
) -> None:
    queue = exim_in(host, "-bp")
    assert "victim" not in queue.lower()
    assert "example.net" not in queue


def test_upper_case_local_address_delivered(lab_full: list[NamespaceStatus]) -> None:
    token = uuid.uuid4().hex
    steps = [
        ["ehlo", None],
        ["mail", SENDER],
        ["rcpt", "<ANN@ALPHA.TEST>"],
        ["data", message(token, "ANN@ALPHA.TEST")],
    ]
    result = probe("inbox", address=ADDRESSES["mx1"], port=25, steps=steps)
    assert codes(result) == [250, 250, 250, 250]
    delivered = find_delivered("mx1", "ann", token)
    assert delivered is not None
    assert delivered["Envelope-to"].lower() == "ann@alpha.test"


@pytest.mark.parametrize("port", [25, 587])
def test_relay_without_auth_rejected(
    lab_full: list[NamespaceStatus], port: int
) -> None:
    result = probe(
        "inbox",
        address=ADDRESSES["relay"],
        port=port,
        server_hostname="smtp.relay.test",
        ca_file=LAB_CA,
        steps=[
            ["ehlo", None],
            ["starttls", None],
            ["ehlo", None],
            # inbox.test's SPF record allows this client, so only the
            # missing AUTH can reject the recipient.
            ["mail", "<carol@inbox.test>"],
            ["rcpt", "<carol@inbox.test>"],
        ],
    )
    assert "error" not in result, result.get("error")
    rcpt = result["replies"][-1]
    assert rcpt["code"] == 550
    assert RELAY_NOT_PERMITTED in rcpt["text"]


@pytest.fixture(scope="module")
def relay_user(lab_full: list[NamespaceStatus]) -> Iterator[tuple[str, str]]:
    """Add a throwaway user to the relay's passwords file; restore the file."""
    site = lab_site(find_host("relay"))
    path = Path(site.auth.passwords_file)
    original = path.read_bytes() if path.exists() else None
    user, password = f"probe-{uuid.uuid4().hex[:8]}@relay.test", secrets.token_hex(16)
    line = f"{user}: {password}\n".encode()
    content = (original or b"").rstrip(b"\n")
    content = content + b"\n" + line if content else line
    write_file(path, content, PRIVATE_MODE, site.build.group, overwrite=True)
    try:
        yield user, password
    finally:
        if original is None:
            path.unlink()
        else:
            write_file(path, original, PRIVATE_MODE, site.build.group, overwrite=True)


def submission(
    user: str, password: str, *steps: Any, tls: bool = True
) -> dict[str, Any]:
    head: list[Any] = [["ehlo", None]]
    if tls:
        head += [["starttls", None], ["ehlo", None]]
    return probe(
        "inbox",
        address=ADDRESSES["relay"],
        port=587,
        server_hostname="smtp.relay.test",
        ca_file=LAB_CA,
        steps=head + [["auth_plain", [user, password]], *steps],
    )


def test_relay_auth_over_tls_relays(relay_user: tuple[str, str]) -> None:
    token = uuid.uuid4().hex
    # alpha.test's SPF record lists the relay, so inbox accepts the message.
    result = submission(
        *relay_user,
        ["mail", "<ann@alpha.test>"],
        ["rcpt", "<carol@inbox.test>"],
        ["data", message(token, "carol@inbox.test")],
    )
    assert "error" not in result, result.get("error")
    assert codes(result) == [250, 220, 250, 235, 250, 250, 250]
    delivered = find_delivered("inbox", "carol", token)
    assert delivered is not None, f"message {token} did not reach carol@inbox.test"
    received = " ".join(str(h) for h in delivered.get_all("Received", []))
    assert "by smtp.relay.test with esmtpsa" in received


def test_relay_wrong_password_rejected(relay_user: tuple[str, str]) -> None:
    result = submission(relay_user[0], "wrong-" + relay_user[1])
    assert result["replies"][-1]["code"] == 535


def test_relay_auth_without_tls_rejected(relay_user: tuple[str, str]) -> None:
    result = submission(*relay_user, tls=False)
    ehlo, auth = result["replies"]
    assert "auth" not in ehlo["features"]
    assert auth["code"] == 503
