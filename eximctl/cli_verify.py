"""The 'verify' command: shipped checks against local, lab or ssh hosts."""

from __future__ import annotations

import sys

import click

from eximctl.cli import Context
from eximctl.verify import run_checks


@click.command()
@click.option(
    "--hosts",
    default="local://",
    show_default=True,
    help="testinfra host specs, comma-separated (local://, ssh://root@HOST).",
)
@click.option(
    "-k",
    "selection",
    default="",
    help="Run only checks matching this pytest -k expression.",
)
@click.option(
    "--no-evidence", is_flag=True, help="Do not print the collected evidence."
)
@click.pass_obj
def verify(obj: Context, hosts: str, selection: str, no_evidence: bool) -> None:
    """Check that the site's Exim is built, configured and delivering."""
    result = run_checks(obj.site, hosts, selection)
    if result.evidence and not no_evidence:
        click.echo("")
        click.echo(result.evidence.rstrip())
    click.echo("")
    click.echo(f"{result.passed} passed, {result.failed} failed")
    if not result.ok:
        sys.exit(1)


COMMANDS: list[click.Command] = [verify]
