"""The 'configure' command: install the site's runtime files and (re)start."""

from __future__ import annotations

import click

from eximctl.cli import Context
from eximctl.configure import configure_site
from eximctl.site_rules import site_warnings


@click.command()
@click.option(
    "--dry-run",
    is_flag=True,
    help="Show a unified diff against the installed files; change nothing.",
)
@click.option(
    "--no-start",
    is_flag=True,
    help="Install the files but do not start or reload the daemon.",
)
@click.pass_obj
def configure(obj: Context, dry_run: bool, no_start: bool) -> None:
    """Render, validate and install the runtime configuration, then reload Exim."""
    site = obj.site
    for warning in site_warnings(site):
        click.secho(f"warning: {warning}", fg="yellow", err=True)

    result = configure_site(site, start_daemon=not no_start, dry_run=dry_run)
    if dry_run:
        if not result.diffs:
            click.echo("no changes: the installed files match the site")
        for text in result.diffs:
            click.echo(text)
        return
    click.echo(f"configuration valid ({site.exim_binary} -bV -C accepted it)")
    for path in result.changed:
        click.echo(f"installed {path}")
    if result.unchanged:
        click.echo(f"unchanged: {len(result.unchanged)} file(s)")
    click.echo(f"daemon: {result.daemon}")


COMMANDS: list[click.Command] = [configure]
