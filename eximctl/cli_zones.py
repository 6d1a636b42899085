"""The 'zones' command of eximctl: write or check the DNS zone files."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from eximctl.cli import Context
from eximctl.lab_sites import LAB_NAMESERVER, lab_sites
from eximctl.site import Site
from eximctl.zone_checks import check_zone_files
from eximctl.zone_files import write_zones
from eximctl.zones import Nameserver, build_zones, dkim_key_files


def _parse_nameserver(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> Nameserver | None:
    if value is None:
        return None
    name, equals, address = value.partition("=")
    if not equals or not name or not address:
        raise click.BadParameter(
            f"{value!r}; use NAME=ADDRESS, as in ns.lab.test=192.0.2.53"
        )
    return name, address


@click.command("zones")
@click.option(
    "--directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("zones"),
    show_default=True,
    help="Folder of the DOMAIN.zone files.",
)
@click.option(
    "--check",
    "check_only",
    is_flag=True,
    help="Only check the zone files in the folder; exit 1 on any problem.",
)
@click.option(
    "--nameserver",
    callback=_parse_nameserver,
    help="Authoritative name server of the zones, as NAME=ADDRESS. Default: "
    "ns.lab.test for the lab; the site's own host and first address for a site.",
)
@click.pass_obj
def zones(
    context: Context, directory: Path, check_only: bool, nameserver: Nameserver | None
) -> None:
    """Write the zone files of the lab, or of the site given as 'eximctl --site'.

    A zone file is rewritten, with a new serial, only when its records
    changed. Missing DKIM keys are created first. With --check, the files'
    records are checked for errors; they are not compared with the site.
    """
    sites = _sites(context)
    if check_only:
        _check(directory, sites)
        return
    built = build_zones(sites, nameserver or _default_nameserver(context))
    statuses = write_zones(built, directory, dkim_keys=dkim_key_files(sites))
    for domain, status in statuses.items():
        click.echo(f"{directory / f'{domain}.zone'}: {status}")


def _default_nameserver(context: Context) -> Nameserver:
    if context.site_path is None:
        return LAB_NAMESERVER
    host = context.site.host
    if not host.addresses:
        raise click.UsageError(
            "the site's host has no addresses to publish as the name server; "
            "add host.addresses or give --nameserver NAME=ADDRESS"
        )
    return host.name, host.addresses[0]


def _sites(context: Context) -> list[Site]:
    if context.site_path is None:
        return lab_sites()
    return [context.site]


def _check(directory: Path, sites: list[Site]) -> None:
    problems = check_zone_files(directory, dkim_key_files(sites, create=False))
    for problem in problems:
        click.echo(str(problem))
    if problems:
        sys.exit(1)
    click.echo(f"{directory}: every zone file passed the checks")


COMMANDS: list[click.Command] = [zones]
