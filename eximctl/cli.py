"""The eximctl command line: parse options, call the library, print, exit."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import click

from eximctl.errors import EximctlError
from eximctl.site import Site, load_site

log = logging.getLogger("eximctl")


class Context:
    """Options shared by every subcommand."""

    def __init__(self, site_path: Path | None, verbose: int, debug: bool) -> None:
        self.site_path = site_path
        self.verbose = verbose
        self.debug = debug
        self._site: Site | None = None

    @property
    def site(self) -> Site:
        if self._site is None:
            self._site = load_site(self.site_path)
        return self._site


class EximctlGroup(click.Group):
    """A click group that turns EximctlError into a one-line message."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except EximctlError as exc:
            obj = ctx.obj
            if isinstance(obj, Context) and obj.debug:
                raise
            click.secho(f"error: {exc}", fg="red", err=True)
            if not (isinstance(obj, Context) and obj.verbose):
                click.echo(
                    "(run with -v for details, --debug for a traceback)", err=True
                )
            sys.exit(1)


@click.group(cls=EximctlGroup)
@click.option(
    "--site",
    "site_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Site file (TOML). Default: the bundled single-host site.",
)
@click.option(
    "-v", "--verbose", count=True, help="Show more detail; twice for debug logs."
)
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logs.")
@click.version_option(package_name="eximctl")
@click.pass_context
def main(ctx: click.Context, site_path: Path | None, verbose: int, debug: bool) -> None:
    """Build, configure and verify an Exim mail server from a site file."""
    level = logging.WARNING
    if verbose == 1:
        level = logging.INFO
    if verbose > 1 or debug:
        level = logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    # python-gnupg warns about every non-zero gpg exit; eximctl reports the
    # signature failure itself, in one line.
    if level > logging.DEBUG:
        logging.getLogger("gnupg").setLevel(logging.ERROR)
    ctx.obj = Context(site_path, verbose, debug)


def _register_commands() -> None:
    # Each command lives in a module named for it, so this file stays a list.
    from eximctl import (
        cli_build,
        cli_configure,
        cli_lab,
        cli_queue,
        cli_site,
        cli_verify,
        cli_zones,
    )

    modules = (
        cli_build,
        cli_configure,
        cli_verify,
        cli_zones,
        cli_lab,
        cli_queue,
        cli_site,
    )
    for module in modules:
        for command in module.COMMANDS:
            main.add_command(command)


_register_commands()
