"""Render every runtime file of a site: configure, aliases, per-domain maps."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from eximctl.context import dkim_keys_file, qualify_domain, template_context
from eximctl.dkim_keys import dkim_domains, dkim_key_path
from eximctl.render import render
from eximctl.site import DomainSection, Site
from eximctl.site_rules import REQUIRED_ALIASES


@dataclass(frozen=True)
class RenderedFile:
    """One file to install: its content, mode and group owner."""

    path: Path
    content: str
    mode: int = 0o644
    group: str = "root"


def render_configure(site: Site) -> str:
    """Render the runtime configuration file of ``site``."""
    return render("exim/configure.j2", **template_context(site))


def render_aliases(site: Site) -> str:
    """Render the system aliases file, adding postmaster and abuse if absent."""
    aliases = dict(site.aliases)
    for name in REQUIRED_ALIASES:
        aliases.setdefault(name, (site.accounts[0],))
    lines = ["# System aliases, rendered by eximctl from the site file."]
    lines += [f"{name}: {', '.join(targets)}" for name, targets in aliases.items()]
    return "\n".join(lines) + "\n"


def render_virtual_map(site: Site, domain: DomainSection) -> str:
    """Render the alias map of one virtual domain.

    Accounts are qualified with this host's first local domain, so they
    reach the local delivery and never another virtual domain's map.
    """
    local = qualify_domain(site)
    entries = dict(domain.aliases)
    postmaster = domain.postmaster or f"postmaster@{local}"
    entries.setdefault("postmaster", postmaster)
    entries.setdefault("abuse", postmaster)
    lines = [f"# Aliases of the virtual domain {domain.name}, rendered by eximctl."]
    for local_part, target in entries.items():
        lines.append(f"{local_part}: {_qualify(target, local)}")
    if domain.catch_all:
        lines.append(f"*: {_qualify(domain.catch_all, local)}")
    return "\n".join(lines) + "\n"


def render_dkim_keys(site: Site) -> str:
    """Render the map from signing domain to private key path."""
    lines = ["# DKIM signing keys by domain, rendered by eximctl."]
    lines += [f"{d}: {dkim_key_path(site, d)}" for d in dkim_domains(site)]
    return "\n".join(lines) + "\n"


def rendered_files(site: Site) -> list[RenderedFile]:
    """Return every runtime file of ``site``, the configuration first."""
    etc = Path(site.etc_directory)
    files = [
        RenderedFile(Path(site.configure_file), render_configure(site)),
        RenderedFile(Path(site.aliases_file), render_aliases(site)),
    ]
    for domain in site.domains_of_kind("virtual"):
        files.append(
            RenderedFile(
                etc / "virtual" / domain.name, render_virtual_map(site, domain)
            )
        )
    if site.dkim is not None:
        files.append(RenderedFile(Path(dkim_keys_file(site)), render_dkim_keys(site)))
    return files


def _qualify(target: str, domain: str) -> str:
    return target if "@" in target else f"{target}@{domain}"
