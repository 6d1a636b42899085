"""The 'lab' command of eximctl: the network-namespace lab on this machine."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import click

from eximctl.errors import LabError
from eximctl.lab.control import NamespaceStatus, lab_down, lab_status, lab_up
from eximctl.lab.hosts import HOSTS, find_host
from eximctl.lab.netns import list_namespaces
from eximctl.lab.sshd import SSH_CONFIG

log = logging.getLogger(__name__)


@click.group()
def lab() -> None:
    """Run the lab hosts (dns, mx1, mx2, relay, inbox) in network namespaces."""


@lab.command()
@click.option(
    "--zones",
    "zones",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="Folder of zone files to serve (one file per zone, named after it). "
    "Default: the zones generated from the lab site files.",
)
@click.option(
    "--no-mail",
    is_flag=True,
    help="Start only DNS and sshd, without configuring or starting Exim.",
)
def up(zones: Path | None, no_mail: bool) -> None:
    """Create the lab and start its daemons; running it again changes nothing."""
    statuses = lab_up(zones, with_mail=not no_mail)
    _print_table(statuses)
    click.echo(f"\nssh to a host with: ssh -F {SSH_CONFIG} mx1")


@lab.command()
@click.option(
    "--purge",
    is_flag=True,
    help="Also remove the kept files: lab CA, lab ssh keys, host configurations.",
)
def down(purge: bool) -> None:
    """Stop every lab process and remove the namespaces and runtime files."""
    report = lab_down(purge)
    killed = sum(len(pids) for pids in report.killed.values())
    click.echo(
        f"removed {len(report.namespaces)} namespaces, stopped {killed} processes, "
        f"removed {len(report.paths)} files and folders"
    )


@lab.command()
def status() -> None:
    """Show the lab namespaces, their processes and listening ports."""
    statuses = lab_status()
    if not statuses:
        click.echo("the lab is down (no eximlab- namespace exists)")
        return
    _print_table(statuses)
    for entry in statuses:
        click.echo(f"\n{entry.namespace}:")
        if entry.error:
            click.echo(f"  unusable: {entry.error}")
            continue
        for pid, name in sorted(entry.processes.items()):
            click.echo(f"  process {pid:>7} {name}")
        for socket in entry.tcp:
            click.echo(f"  listening tcp {socket}")
        for socket in entry.udp:
            click.echo(f"  listening udp {socket}")


@lab.command(
    "exec",
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
)
@click.argument("host")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def exec_(host: str, command: tuple[str, ...]) -> None:
    """Run COMMAND inside HOST's namespace and exit with its exit code.

    Example: eximctl lab exec mx1 -- ss -ltn
    """
    namespace = find_host(host).namespace
    if namespace not in list_namespaces():
        raise LabError(f"namespace {namespace} does not exist; run 'eximctl lab up'")
    if command[0] == "--":
        command = command[1:]
    if not command:
        raise click.UsageError("missing COMMAND after HOST")
    args = ["ip", "netns", "exec", namespace, *command]
    log.debug("running %s", " ".join(args))
    try:
        result = subprocess.run(args, check=False)
    except FileNotFoundError:
        raise LabError("ip not found; install iproute2") from None
    sys.exit(result.returncode)


def _print_table(statuses: list[NamespaceStatus]) -> None:
    rows = [("NAMESPACE", "HOST", "ADDRESS", "ROLE", "RUNS")]
    order = {h.namespace: i for i, h in enumerate(HOSTS)}
    for entry in sorted(statuses, key=lambda s: order.get(s.namespace, -1)):
        runs = "unusable" if entry.error else ", ".join(entry.programs) or "-"
        address = ", ".join(entry.addresses) or "-"
        rows.append((entry.namespace, entry.host or "-", address, entry.role, runs))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip())


COMMANDS: list[click.Command] = [lab]
