"""The 'build' command: fetch, verify, render Local/Makefile, make, install."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import click

from eximctl.build import build_site, makefile_options, render_makefile
from eximctl.cli import Context
from eximctl.errors import EximctlError
from eximctl.features import parse_bv
from eximctl.site import Site, SourceKind
from eximctl.source import normalize_fingerprint, obtain_source


@click.command()
@click.option(
    "--mirror",
    metavar="URL",
    help="Download from this mirror instead of the site's URL.",
)
@click.option(
    "--tarball",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Use this local Exim tarball (needs --signature or TARBALL.asc).",
)
@click.option(
    "--signature",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Detached .asc signature of --tarball.",
)
@click.option(
    "--from-debian",
    is_flag=True,
    help="Take the source from Debian's exim4 source package.",
)
@click.option(
    "--keyring",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Maintainers' public keys (armored). Trust still needs a pinned fingerprint.",
)
@click.option(
    "--trust-fingerprint",
    "fingerprints",
    multiple=True,
    metavar="FPR",
    help="Also trust this full 40-hex primary key fingerprint. Repeatable.",
    callback=lambda ctx, param, values: _check_fingerprints(values),
)
@click.option(
    "--install-deps", is_flag=True, help="Install missing Debian build packages."
)
@click.option(
    "--show-options", is_flag=True, help="Print the compile-time options and stop."
)
@click.option(
    "-j", "--jobs", type=int, default=0, help="Parallel make jobs (0: one per core)."
)
@click.pass_obj
def build(
    obj: Context,
    mirror: str | None,
    tarball: Path | None,
    signature: Path | None,
    from_debian: bool,
    keyring: Path | None,
    fingerprints: tuple[str, ...],
    install_deps: bool,
    show_options: bool,
    jobs: int,
) -> None:
    """Build and install Exim from its signature-verified source."""
    chosen = [
        name for name, given in _source_options(mirror, tarball, from_debian) if given
    ]
    if len(chosen) > 1:
        raise click.UsageError(f"choose one source: {' and '.join(chosen)} conflict")
    if signature is not None and tarball is None:
        raise click.UsageError("--signature needs --tarball")
    site = obj.site
    if from_debian:
        site = _with_source_kind(site, "debian")
    if mirror:
        site = replace(site, source=replace(site.source, kind="mirror", url=mirror))
    verified = obtain_source(
        site,
        extra_fingerprints=fingerprints,
        keyring=keyring,
        mirror=mirror,
        tarball=tarball,
        signature=signature,
    )
    click.echo(
        f"source: {verified.tarball.name} (Exim {verified.version}) from {verified.origin}"
    )
    click.echo(f"sha256: {verified.sha256}")
    trust = "pinned" if verified.pinned else "trusted by --trust-fingerprint"
    click.secho(
        f"signature: good, by {verified.signer}, "
        f"primary key {verified.fingerprint} ({trust})",
        fg="green",
    )
    _print_options(render_makefile(site, verified.version))
    if show_options:
        return

    result = build_site(site, verified, jobs=jobs, install_deps=install_deps)
    if result.skipped:
        click.echo(
            f"{result.binary} is already built from this tarball and these options; nothing to do"
        )
    else:
        click.echo(f"built and installed {result.binary} (log: {result.log_file})")
    _print_bv(result.bv_output)


def _source_options(
    mirror: str | None, tarball: Path | None, from_debian: bool
) -> list[tuple[str, bool]]:
    return [
        ("--mirror", bool(mirror)),
        ("--tarball", tarball is not None),
        ("--from-debian", from_debian),
    ]


def _check_fingerprints(values: tuple[str, ...]) -> tuple[str, ...]:
    try:
        return tuple(normalize_fingerprint(value) for value in values)
    except EximctlError as exc:
        raise click.BadParameter(str(exc)) from exc


def _with_source_kind(site: Site, kind: SourceKind) -> Site:
    return replace(site, source=replace(site.source, kind=kind))


def _print_options(makefile: str) -> None:
    options = makefile_options(makefile)
    width = max(len(name) for name, _ in options)
    click.echo("\nLocal/Makefile options:")
    for name, value in options:
        click.echo(f"  {name.ljust(width)}  {value}")
    click.echo("")


def _print_bv(output: str) -> None:
    parsed = parse_bv(output)
    for label in (
        "Support for",
        "Lookups (built-in)",
        "Authenticators",
        "Routers",
        "Transports",
    ):
        click.echo(f"{label}: {' '.join(parsed.get(label, []))}")


COMMANDS: list[click.Command] = [build]
