"""Checks of one Exim host: binary, features, configuration, daemon, mail.

Each check's docstring is the sentence shown when it fails, with the fix.
"""

from __future__ import annotations

import shlex
import time
import uuid
from typing import Any

from eximctl.checks.evidence import Evidence
from eximctl.checks.smtp_client import SCRIPT
from eximctl.context import qualify_domain
from eximctl.features import missing_features
from eximctl.site import Site

Host = Any  # testinfra.host.Host; testinfra ships no type hints


def _exim(site: Site, *args: str) -> str:
    return shlex.join([site.exim_binary, "-C", site.configure_file, *args])


def test_binary_installed(host: Host, site: Site, evidence: Evidence) -> None:
    """The Exim binary is missing or does not run; run 'eximctl build'."""
    binary = host.file(site.exim_binary)
    assert binary.exists, f"{site.exim_binary} does not exist"
    assert binary.mode & 0o4000, f"{site.exim_binary} is not setuid root"
    result = host.run(_exim(site, "-bV"))
    assert result.rc == 0, result.stderr
    evidence.add("exim -bV", result.stdout)


def test_features_compiled_in(host: Host, site: Site) -> None:
    """A feature the site requests is not compiled in; rebuild with 'eximctl build'."""
    result = host.run(shlex.join([site.exim_binary, "-bV"]))
    assert missing_features(result.stdout, site.build.features) == []


def test_configuration_valid(host: Host, site: Site) -> None:
    """The installed configuration is invalid; run 'eximctl configure'."""
    result = host.run(_exim(site, "-bV"))
    assert result.rc == 0, result.stderr.strip()


def test_daemon_listening(host: Host, site: Site) -> None:
    """The daemon is not listening on every port; run 'eximctl configure' to start it."""
    addresses = site.daemon.interfaces or ("0.0.0.0",)
    for address in addresses:
        for port in site.daemon.ports:
            socket = host.socket(f"tcp://{address}:{port}")
            assert socket.is_listening, f"nothing listens on {address}:{port}"


def test_account_routes(host: Host, site: Site) -> None:
    """A local account does not route to local delivery; check accounts and domains."""
    domain = qualify_domain(site)
    for account in site.accounts:
        result = host.run(_exim(site, "-bt", f"{account}@{domain}"))
        assert result.rc == 0, result.stdout + result.stderr
        assert "transport = local_delivery" in result.stdout, result.stdout


def test_postmaster_routes(host: Host, site: Site) -> None:
    """Postmaster does not route for every domain (RFC 5321 section 4.5.1)."""
    for domain in site.domains:
        if domain.kind == "backup":
            continue
        result = host.run(_exim(site, "-bt", f"Postmaster@{domain.name}"))
        assert result.rc == 0, f"Postmaster@{domain.name}: {result.stdout}"


def test_smtp_delivery(host: Host, site: Site, evidence: Evidence) -> None:
    """A message sent over SMTP did not reach the mailbox; see the Exim mainlog."""
    account = site.accounts[0]
    token = uuid.uuid4().hex
    address = (site.daemon.interfaces or ("127.0.0.1",))[0]
    port = site.daemon.ports[0]
    recipient = f"{account}@{qualify_domain(site)}"
    send = host.run(
        shlex.join(
            [
                "python3",
                "-c",
                SCRIPT,
                address,
                str(port),
                # A sender of the site's own domain, sent from the site's own
                # address, passes the receiving host's SPF check.
                f"verify@{qualify_domain(site)}",
                recipient,
                token,
                "starttls",
            ]
        )
    )
    assert send.rc == 0, send.stderr.strip()
    assert "refused: {}" in send.stdout, send.stdout

    message = _wait_for_message(host, site, account, token)
    assert message, f"message {token} not in the mailbox of {account} after 30 s"
    evidence.add(f"headers of the message delivered to {recipient}", message)


def _wait_for_message(host: Host, site: Site, account: str, token: str) -> str:
    directory = site.delivery.mail_directory
    if site.delivery.mailbox == "maildir":
        command = f"grep -l -r {token} {directory}/{account}/Maildir/new"
        show = "xargs sed -n '1,/^$/p'"
        command = f"{command} | head -n 1 | {show}"
    else:
        command = (
            f'awk -v t=\'{token}\' \'/^From /{{m=""}} {{m=m $0 "\\n"}} '
            f'index($0, t) && /^Message-ID/ {{f=1}} f && /^$/ {{printf "%s", m; exit}}\' '
            f"{directory}/{account}"
        )
    for _ in range(30):
        result = host.run(command)
        if result.rc == 0 and token in result.stdout:
            return str(result.stdout)
        time.sleep(1)
    return ""
