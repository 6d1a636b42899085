"""The lab's outbound chain as evidence: mx1 -> relay -> inbox, judged at inbox.

Used by ``eximctl verify --lab``. A message from ann@alpha.test on mx1 goes
through the smarthost to carol@inbox.test. Its DKIM signature and SPF are
then checked with dkimpy and pyspf inside the inbox namespace, against the
lab DNS.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from eximctl.dkim_keys import dkim_domains, dkim_key_path
from eximctl.lab.hosts import find_host, mail_hosts
from eximctl.lab.mail import lab_site
from eximctl.lab_sites import LAB_NAMESERVER

SENDER = "ann@alpha.test"
RECIPIENT = "carol@inbox.test"

# Runs inside the inbox namespace; argv: mbox path, token, nameserver.
_JUDGE = r"""
import json, sys
from pathlib import Path
from eximctl.mail_checks import delivery_evidence, mbox_messages
path, token, nameserver = sys.argv[1:4]
message = next(m for m in mbox_messages(Path(path)) if token.encode() in m)
evidence = delivery_evidence(message, "192.0.2.25", "smtp.relay.test", nameserver)
print(json.dumps({"report": evidence.report(), "dkim": evidence.dkim_pass,
                  "spf": evidence.spf_result}))
"""


# Runs inside the inbox namespace; argv: nameserver, then domain, selector and
# key path for each record. Prints one JSON list of problems.
_DKIM_RECORDS = r"""
import json, sys
from pathlib import Path
from eximctl.mail_checks import dkim_dns_problem
nameserver, items = sys.argv[1], sys.argv[2:]
problems = []
for i in range(0, len(items), 3):
    domain, selector, key = items[i:i + 3]
    problems.append(dkim_dns_problem(domain, selector, Path(key), nameserver))
print(json.dumps([p for p in problems if p]))
"""


@dataclass(frozen=True)
class OutboundResult:
    """The verdicts on one message that crossed the lab's outbound chain."""

    delivered: bool
    dkim_pass: bool
    spf_result: str
    report: str

    @property
    def ok(self) -> bool:
        return self.delivered and self.dkim_pass and self.spf_result == "pass"


def check_outbound(timeout: float = 60) -> OutboundResult:
    """Send one message from mx1 to inbox and judge it at inbox."""
    token = uuid.uuid4().hex
    mx1 = lab_site(find_host("mx1"))
    mailbox = Path(lab_site(find_host("inbox")).delivery.mail_directory) / "carol"
    message = (
        f"From: {SENDER}\nTo: {RECIPIENT}\nSubject: eximctl outbound {token}\n"
        f"Message-ID: <{token}@alpha.test>\n\nOutbound check {token}\n"
    )
    submit = [mx1.exim_binary, "-C", mx1.configure_file, "-f", SENDER, RECIPIENT]
    submitted = _in_namespace("mx1", submit, message)
    if submitted.returncode != 0:
        return OutboundResult(
            False,
            False,
            "none",
            f"submission on mx1 failed: {submitted.stderr.strip()}",
        )
    if not _arrived(mailbox, token, timeout):
        return OutboundResult(False, False, "none", f"message {token} not delivered")
    judge = [sys.executable, "-c", _JUDGE, str(mailbox), token, LAB_NAMESERVER[1]]
    judged = _in_namespace("inbox", judge)
    if judged.returncode != 0:
        return OutboundResult(
            True, False, "none", f"checks at inbox failed: {judged.stderr.strip()}"
        )
    data = json.loads(judged.stdout)
    return OutboundResult(
        True, bool(data["dkim"]), str(data["spf"]), str(data["report"])
    )


def check_dkim_records() -> tuple[list[str], list[str]]:
    """Compare each lab DKIM record that NSD serves with its private key.

    Returns the records checked and the problems found, as sentences.
    """
    arguments: list[str] = []
    checked: list[str] = []
    for host in mail_hosts():
        site = lab_site(host)
        if site.dkim is None:
            continue
        for domain in dkim_domains(site):
            key = dkim_key_path(site, domain)
            arguments += [domain, site.dkim.selector, str(key)]
            checked.append(f"{site.dkim.selector}._domainkey.{domain}")
    command = [sys.executable, "-c", _DKIM_RECORDS, LAB_NAMESERVER[1], *arguments]
    result = _in_namespace("inbox", command)
    if result.returncode != 0:
        return checked, [f"the DKIM record check failed: {result.stderr.strip()}"]
    problems: list[str] = json.loads(result.stdout)
    return checked, problems


def _in_namespace(
    host: str, command: list[str], stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    namespace = find_host(host).namespace
    return subprocess.run(
        ["ip", "netns", "exec", namespace, *command],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def _arrived(mailbox: Path, token: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if mailbox.exists() and token in mailbox.read_text(errors="replace"):
            return True
        time.sleep(0.2)
    return False
