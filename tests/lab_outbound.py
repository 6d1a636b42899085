"""Helpers for the lab tests of outbound mail: mx1 -> relay -> inbox.

Messages are submitted on mx1 with ``exim -odq`` and delivered with
``exim -M``, a forced delivery that ignores retry times, so a test that made
the relay fail does not hold up the next delivery attempt.
"""

from __future__ import annotations

import mailbox
import os
import re
import signal
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from eximctl.configure import daemon_pid
from eximctl.lab import mail
from eximctl.lab.hosts import find_host
from eximctl.site import Site

ANN = "ann@alpha.test"
CAROL = "carol@inbox.test"
DEADLINE = 20.0


def site(host: str) -> Site:
    return mail.lab_site(find_host(host))


def exim(host: str, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """Run the lab's Exim with ``host``'s configuration inside its namespace."""
    namespace = find_host(host).namespace
    command = [mail.EXIM.as_posix(), "-C", site(host).configure_file, *args]
    return subprocess.run(
        ["ip", "netns", "exec", namespace, *command],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


class MainLog:
    """The lines that a lab host's mainlog gains after this object is made."""

    def __init__(self, host: str) -> None:
        self.path = Path(site(host).log_directory) / "mainlog"
        self.offset = self.path.stat().st_size if self.path.exists() else 0

    def lines(self) -> list[str]:
        with self.path.open("rb") as stream:
            stream.seek(self.offset)
            return stream.read().decode(errors="replace").splitlines()

    def text(self) -> str:
        return "\n".join(self.lines())

    def wait_for(self, pattern: str, timeout: float = DEADLINE) -> str:
        """Return the first new line that matches ``pattern``, polling."""
        found = poll(lambda: _first_match(pattern, self.lines()), timeout)
        assert found, f"no line matching {pattern!r} in {self.path}:\n{self.text()}"
        return found


def _first_match(pattern: str, lines: list[str]) -> str:
    return next((line for line in lines if re.search(pattern, line)), "")


def poll(check: Callable[[], str], timeout: float = DEADLINE) -> str:
    """Call ``check`` until it returns a non-empty string or time runs out."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


def submit(subject: str, sender: str = ANN, recipient: str = CAROL) -> str:
    """Queue a message on mx1 without delivering it; return its Exim id."""
    log = MainLog("mx1")
    token = uuid.uuid4().hex
    message = (
        f"From: {sender}\nTo: {recipient}\nSubject: {subject} {token}\n"
        f"Message-Id: <{token}@alpha.test>\n\nTest message {token}.\n"
    )
    result = exim("mx1", "-odq", "-f", sender, recipient, stdin=message)
    assert result.returncode == 0, result.stderr
    line = log.wait_for(rf"<= {re.escape(sender)} .*id={token}@alpha\.test")
    return line.split()[2]


def deliver(message_id: str) -> subprocess.CompletedProcess[str]:
    """Force one delivery attempt of ``message_id`` on mx1, ignoring retry times."""
    return exim("mx1", "-M", message_id)


def queued_ids(host: str = "mx1") -> list[str]:
    """Return the ids of the messages in ``host``'s queue."""
    listing = exim(host, "-bp").stdout
    return re.findall(r"\b[0-9A-Za-z]{6}-[0-9A-Za-z]{6}-[0-9A-Za-z]{2}\b", listing)


def mailbox_messages(host: str, account: str) -> list[bytes]:
    """Return every message in the mbox of ``account`` on lab host ``host``."""
    path = Path(site(host).delivery.mail_directory) / account
    if not path.exists():
        return []
    box = mailbox.mbox(str(path), create=False)
    try:
        return [box.get_bytes(key) for key in box.iterkeys()]
    finally:
        box.close()


def messages_with(
    text: str, host: str = "inbox", account: str = "carol"
) -> list[bytes]:
    return [m for m in mailbox_messages(host, account) if text.encode() in m]


def wait_for_delivery(text: str, host: str = "inbox", account: str = "carol") -> bytes:
    """Wait until a message containing ``text`` is in the mailbox; return it."""
    poll(lambda: "found" if messages_with(text, host, account) else "")
    found = messages_with(text, host, account)
    assert found, f"no message containing {text!r} reached {account} on {host}"
    return found[0]


def message_token(message_id: str) -> str:
    """Return the Message-Id token of a queued mx1 message."""
    headers = exim("mx1", "-Mvh", message_id).stdout
    match = re.search(r"Message-Id: <([0-9a-f]+)@alpha\.test>", headers)
    assert match, headers
    return match.group(1)


def reload_daemon(host: str) -> None:
    """Send SIGHUP to ``host``'s Exim daemon and wait until it has restarted."""
    log = MainLog(host)
    pid = daemon_pid(site(host))
    assert pid is not None, f"no Exim daemon runs on {host}"
    os.kill(pid, signal.SIGHUP)
    log.wait_for("daemon started")


def restore_host(host: str) -> None:
    """Put back the lab configuration, secrets and certificate of ``host``."""
    log = MainLog(host)
    action = mail.start_mail_host(site(host), find_host(host).namespace)
    if action == "running":
        reload_daemon(host)
    else:
        log.wait_for("daemon started")
