"""The 'check-site' command: validate a site file without touching the host."""

from __future__ import annotations

import click

from eximctl.cli import Context
from eximctl.exim_access import check_tls_access
from eximctl.site_rules import site_warnings


@click.command("check-site")
@click.pass_obj
def check_site(obj: Context) -> None:
    """Validate the site file and the files it names; change nothing."""
    site = obj.site
    # The TLS certificate and key must be readable by the Exim user here.
    check_tls_access(site)
    for warning in site_warnings(site):
        click.secho(f"warning: {warning}", fg="yellow")
    kinds = ", ".join(f"{d.name} ({d.kind})" for d in site.domains)
    click.echo(f"{site.path}: valid site for {site.host.name}; domains: {kinds}")


COMMANDS: list[click.Command] = [check_site]
