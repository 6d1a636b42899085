"""The 'queue' command of eximctl: count and run a host's Exim queue."""

from __future__ import annotations

import click

from eximctl.cli import Context
from eximctl.lab.hosts import find_host
from eximctl.lab.mail import lab_site
from eximctl.queue import lab_namespace, queue_count, run_queue


@click.group()
def queue() -> None:
    """Inspect and run the Exim queue of a host."""


@queue.command("run")
@click.option(
    "--host",
    "lab_host",
    metavar="LABHOST",
    help="Lab mail host (mx1, mx2, relay, inbox) whose queue runs inside its "
    "network namespace. Default: the host of the site file.",
)
@click.pass_obj
def run_command(context: Context, lab_host: str | None) -> None:
    """Deliver every queued message now, ignoring retry times (exim -qff)."""
    if lab_host:
        namespace = lab_namespace(lab_host)
        site = lab_site(find_host(lab_host))
    else:
        namespace = ""
        site = context.site
    before = queue_count(site, namespace)
    run_queue(site, namespace)
    after = queue_count(site, namespace)
    click.echo(
        f"queue run on {site.host.name}: {before} messages queued before, {after} after"
    )


COMMANDS: list[click.Command] = [queue]
