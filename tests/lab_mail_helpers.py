"""Helpers for lab tests that send mail between the lab hosts and read it back.

Every client runs inside a lab namespace, so it reaches the lab addresses on
the lab switch and resolves names through the lab DNS.
"""

from __future__ import annotations

import json
import mailbox
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import TypeVar

from eximctl.lab import mail, netns
from eximctl.lab.hosts import find_host
from eximctl.lab.mail import lab_site
from eximctl.queue import exim_command
from eximctl.site import Site

T = TypeVar("T")

# An SMTP client for one transaction. It reads a JSON request on stdin and
# prints the reply code of every RCPT, and of DATA when a message was given.
_SMTP_CLIENT = r"""
import json, smtplib, sys
request = json.load(sys.stdin)
result = {"rcpt": {}, "data": None}
with smtplib.SMTP(request["server"], request["port"], timeout=30) as smtp:
    smtp.ehlo(request["helo"])
    smtp.mail(request["sender"])
    accepted = 0
    for recipient in request["recipients"]:
        code, text = smtp.rcpt(recipient)
        result["rcpt"][recipient] = [code, text.decode(errors="replace")]
        accepted += code == 250
    if request["message"] and accepted:
        code, text = smtp.data(request["message"].encode())
        result["data"] = [code, text.decode(errors="replace")]
print(json.dumps(result))
"""


@dataclass(frozen=True)
class SmtpReplies:
    """The reply codes and texts of one SMTP transaction."""

    rcpt: dict[str, tuple[int, str]]
    data: tuple[int, str] | None

    def rcpt_code(self, recipient: str) -> int:
        return self.rcpt[recipient][0]


def run_in_namespace(
    host: str, command: list[str], stdin: str = "", timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run ``command`` inside lab host ``host``'s namespace, feeding ``stdin``."""
    return subprocess.run(
        ["ip", "netns", "exec", find_host(host).namespace, *command],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )


def smtp_transaction(
    client: str,
    server: str,
    sender: str,
    recipients: list[str],
    message: str = "",
    port: int = 25,
) -> SmtpReplies:
    """Send one SMTP transaction from lab host ``client`` to address ``server``.

    Without ``message`` the client stops after RCPT, so nothing is queued.
    """
    request = {
        "server": server,
        "port": port,
        "helo": find_host(client).fqdn,
        "sender": sender,
        "recipients": recipients,
        "message": message,
    }
    result = run_in_namespace(
        client, [sys.executable, "-c", _SMTP_CLIENT], json.dumps(request)
    )
    assert result.returncode == 0, (result.returncode, result.stdout, result.stderr)
    output = json.loads(result.stdout)
    rcpt = {r: (code, text) for r, (code, text) in output["rcpt"].items()}
    data = (output["data"][0], output["data"][1]) if output["data"] else None
    return SmtpReplies(rcpt, data)


def make_message(sender: str, recipient: str, token: str) -> str:
    """Return a small message whose Message-ID and subject carry ``token``."""
    return (
        f"From: {sender}\r\nTo: {recipient}\r\nSubject: lab test {token}\r\n"
        f"Message-ID: <{token}@inbox.test>\r\n\r\nBody of {token}.\r\n"
    )


def exim(host: str, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """Run lab host ``host``'s Exim with its configuration, in its namespace."""
    return run_in_namespace(host, exim_command(lab_site(find_host(host)), *args), stdin)


def submit(host: str, sender: str, recipient: str, message: str) -> None:
    """Hand ``message`` to lab host ``host``'s Exim and wait for its delivery.

    ``-odi`` makes Exim try the delivery before it exits, like an MTA that
    received the message by SMTP.
    """
    result = exim(host, "-odi", "-f", sender, "--", recipient, stdin=message)
    assert result.returncode == 0, result.stderr


def queue_count(host: str) -> int:
    result = exim(host, "-bpc")
    assert result.returncode == 0, result.stderr
    return int(result.stdout.strip())


def stop_exim(host: str) -> list[int]:
    """Stop every Exim process of lab host ``host``; return their ids."""
    return netns.kill_processes(find_host(host).namespace, {"exim"})


def start_exim(host: str, site: Site | None = None) -> str:
    """Configure lab host ``host`` (from ``site`` if given) and start its daemon."""
    lab_host = find_host(host)
    return mail.start_mail_host(site or lab_site(lab_host), lab_host.namespace)


def mailbox_path(host: str, account: str) -> Path:
    site = lab_site(find_host(host))
    return Path(site.delivery.mail_directory) / account


def mailbox_messages(host: str, account: str) -> list[Message]:
    """Return the messages in the mbox of ``account`` on lab host ``host``."""
    path = mailbox_path(host, account)
    if not path.exists():
        return []
    box = mailbox.mbox(path, create=False)
    try:
        return list(box)
    finally:
        box.close()


def message_tokens(host: str, account: str) -> Counter[str]:
    """Count the messages in an mbox by the local part of their Message-ID."""
    tokens: Counter[str] = Counter()
    for message in mailbox_messages(host, account):
        match = re.match(r"<([^@>]+)@", message.get("Message-ID", ""))
        if match:
            tokens[match.group(1)] += 1
    return tokens


def mainlog(host: str) -> str:
    site = lab_site(find_host(host))
    path = Path(site.log_directory) / "mainlog"
    return path.read_text(errors="replace") if path.exists() else ""


def wait_until(
    probe: Callable[[], T], done: Callable[[T], bool], timeout: float, what: str
) -> T:
    """Call ``probe`` until ``done`` accepts its value; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached after {timeout} s: {value!r}")
        time.sleep(0.2)


def wait_for_empty_queue(host: str, timeout: float = 30) -> int:
    return wait_until(
        lambda: queue_count(host),
        lambda n: n == 0,
        timeout,
        f"empty queue on {host}",
    )
