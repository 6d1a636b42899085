"""Build and install Exim from a verified, extracted source tree."""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import click

from eximctl import accounts
from eximctl.errors import BuildError, CommandError, MissingDependencyError
from eximctl.features import missing_features, required_packages, version_tuple
from eximctl.render import render
from eximctl.runner import run
from eximctl.site import Site
from eximctl.source import VerifiedSource, extract_source

log = logging.getLogger(__name__)

STAMP_NAME = ".eximctl-build-stamp"


@dataclass(frozen=True)
class BuildResult:
    """The outcome of a build: the binary, its version and whether it was skipped."""

    binary: Path
    version: str
    skipped: bool
    log_file: Path | None
    bv_output: str


def render_makefile(site: Site, version: str) -> str:
    """Render Local/Makefile for ``site`` and the Exim ``version``."""
    return render(
        "build/Makefile.j2",
        version=version,
        bin_directory=site.bin_directory,
        configure_file=f"{site.build.prefix}/etc/configure",
        user=site.build.user,
        group=site.build.group,
        # Compile-time paths come from the prefix alone, so every site with
        # the same prefix shares one build. A site's own spool and log
        # folders are set in its runtime configuration.
        spool_directory=f"{site.build.prefix}/spool",
        log_directory=f"{site.build.prefix}/log",
        trusted_config_list=site.trusted_config_list,
        aliases_file=f"{site.build.prefix}/etc/aliases",
        features=site.build.features,
        pcre2=version_tuple(version) >= (4, 96),
    )


def makefile_options(makefile: str) -> list[tuple[str, str]]:
    """Return the NAME=value settings of a rendered Makefile, in order."""
    options = []
    for line in makefile.splitlines():
        match = re.match(r"^([A-Z][A-Z0-9_]*)\s*(\+?=)\s*(.*)$", line)
        if match:
            name, op, value = match.groups()
            options.append((name if op == "=" else f"{name} +", value))
    return options


def missing_packages(
    version: str, features: tuple[str, ...], admindir: Path | None = None
) -> dict[str, str]:
    """Return the required Debian packages that are not installed.

    ``admindir`` is dpkg's database folder, /var/lib/dpkg unless given.
    """
    needed = required_packages(version, features)
    return {pkg: why for pkg, why in needed.items() if not _is_installed(pkg, admindir)}


def _is_installed(package: str, admindir: Path | None) -> bool:
    options = [f"--admindir={admindir}"] if admindir else []
    result = subprocess.run(
        ["dpkg-query", *options, "-W", "-f=${Status}", package],
        capture_output=True,
        text=True,
        check=False,
    )
    # dpkg reports "unknown ok not-installed" for a removed package, so the
    # whole status is compared.
    return result.returncode == 0 and result.stdout.split() == [
        "install",
        "ok",
        "installed",
    ]


def preflight(
    version: str, features: tuple[str, ...], install: bool, admindir: Path | None = None
) -> None:
    """Check the build dependencies; install them when ``install`` is set."""
    missing = missing_packages(version, features, admindir)
    if not missing:
        return
    if not install:
        raise MissingDependencyError(missing)
    click.echo(f"installing build dependencies: {' '.join(missing)}")
    run(
        ["apt-get", "install", "-y", "--no-install-recommends", *missing],
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
    )


def build_stamp(tarball_sha256: str, makefile: str) -> str:
    """Return the stamp that identifies one build's inputs."""
    digest = hashlib.sha256(makefile.encode()).hexdigest()
    return f"tarball-sha256 {tarball_sha256}\nmakefile-sha256 {digest}\n"


def is_up_to_date(site: Site, stamp: str) -> bool:
    """Return True when the installed binary came from the same inputs."""
    stamp_file = Path(site.build.prefix) / STAMP_NAME
    binary = Path(site.exim_binary)
    return binary.exists() and stamp_file.exists() and stamp_file.read_text() == stamp


def build_site(
    site: Site, verified: VerifiedSource, *, jobs: int = 0, install_deps: bool = False
) -> BuildResult:
    """Build and install Exim from a verified tarball, unless already done.

    Nothing is extracted or compiled when the installed binary came from the
    same tarball and the same rendered Local/Makefile.
    """
    makefile = render_makefile(site, verified.version)
    stamp = build_stamp(verified.sha256, makefile)
    if is_up_to_date(site, stamp):
        return BuildResult(
            Path(site.exim_binary), verified.version, True, None, exim_bv(site)
        )

    preflight(verified.version, site.build.features, install_deps)
    builds = Path(site.source.cache_directory) / "build"
    builds.mkdir(parents=True, exist_ok=True)
    # A fresh folder per build, so two builds never share a source tree.
    work = Path(tempfile.mkdtemp(prefix=f"exim-{verified.version}-", dir=builds))
    source_dir = extract_source(verified, work / "src")
    jobs = jobs or site.build.jobs or os.cpu_count() or 1
    result = build_and_install(
        site, source_dir, verified.version, makefile, stamp, jobs=jobs
    )
    shutil.rmtree(work / "src")
    return result


def build_and_install(
    site: Site, source_dir: Path, version: str, makefile: str, stamp: str, *, jobs: int
) -> BuildResult:
    """Write Local/Makefile, run make and make install, then check -bV."""
    (source_dir / "Local").mkdir(exist_ok=True)
    (source_dir / "Local" / "Makefile").write_text(makefile)
    accounts.ensure_exim_user(site.build.user, site.build.group)
    log_file = source_dir.parent.parent / "build.log"
    _make(source_dir, ["make", f"-j{jobs}"], log_file, "compiling")
    _prepare_prefix(site)
    _make(source_dir, ["make", "install"], log_file, "installing")

    bv = exim_bv(site)
    missing = missing_features(bv, site.build.features)
    if missing:
        raise BuildError(
            f"the built Exim lacks {', '.join(missing)} (not listed by exim -bV); "
            f"see {log_file} and check the feature's development package"
        )
    (Path(site.build.prefix) / STAMP_NAME).write_text(stamp)
    return BuildResult(Path(site.exim_binary), version, False, log_file, bv)


def exim_bv(site: Site, config: str | None = None) -> str:
    """Return the output of ``exim -bV`` for the installed binary."""
    command = [site.exim_binary, "-bV"]
    if config:
        command += ["-C", config]
    return run(command).stdout


def _prepare_prefix(site: Site) -> None:
    # Exim's installer copies the binary to exim-VERSION-N; when a running
    # daemon uses a file of that name the copy fails ("Text file busy").
    # Unlinking it is safe: the daemon keeps its open inode until SIGHUP
    # makes it execute the new binary.
    for old in Path(site.bin_directory).glob("exim-*-*"):
        if old.is_file() and not old.is_symlink():
            old.unlink()
    etc = Path(site.build.prefix) / "etc"
    etc.mkdir(parents=True, exist_ok=True)
    trusted = Path(site.trusted_config_list)
    if not trusted.exists():
        trusted.write_text("")
    os.chmod(trusted, 0o644)


def _make(source_dir: Path, command: list[str], log_file: Path, label: str) -> None:
    """Run a make step, logging all output to ``log_file`` with a progress line."""
    log.debug("running %s in %s", command, source_dir)
    compiled = 0
    interactive = sys.stderr.isatty()
    click.echo(f"{label} (log: {log_file})", err=True)
    with log_file.open("a") as out:
        out.write(f"$ {' '.join(command)}\n")
        process = subprocess.Popen(
            command,
            cwd=source_dir,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert process.stdout is not None
        for line in process.stdout:
            out.write(line)
            if interactive and line.lstrip().startswith(("cc ", "gcc ")):
                compiled += 1
                click.echo(f"\r{label}: {compiled} files", nl=False, err=True)
        returncode = process.wait()
    if interactive:
        click.echo("", err=True)
    if returncode != 0:
        tail = "\n".join(log_file.read_text().splitlines()[-25:])
        raise CommandError(command, returncode, f"{tail}\n(full log: {log_file})")
