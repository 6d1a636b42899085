"""Apply a site's runtime configuration: render, validate, install, reload."""

from __future__ import annotations

import grp
import logging
import os
import pwd
import signal
from dataclasses import dataclass, field
from pathlib import Path

from eximctl import accounts
from eximctl.dkim_keys import dkim_domains, ensure_dkim_key
from eximctl.errors import ConfigError, EximctlError
from eximctl.exim_access import check_exim_can_read, check_tls_access
from eximctl.files import RenderedFile, rendered_files
from eximctl.install import diff, install_files, validate_configure
from eximctl.key_files import check_readable_by_group
from eximctl.runner import run
from eximctl.secrets import check_secret_files
from eximctl.site import Site
from eximctl.tls_certs import ensure_certificate

log = logging.getLogger(__name__)


@dataclass
class ConfigureResult:
    """The outcome of a configure run: changed files and the daemon action."""

    changed: list[Path] = field(default_factory=list)
    unchanged: list[Path] = field(default_factory=list)
    diffs: list[str] = field(default_factory=list)
    daemon: str = "not touched"


def configure_site(
    site: Site,
    *,
    start_daemon: bool = True,
    dry_run: bool = False,
    tls_ca: tuple[Path, Path] | None = None,
) -> ConfigureResult:
    """Render, validate and install the runtime files of ``site``.

    Validation runs before anything is replaced, so a configuration that
    Exim rejects leaves the installed files and the daemon untouched.
    """
    _require_binary(site)
    files = rendered_files(site)
    result = ConfigureResult()
    # First, so an unreadable TLS file stops the run (a dry run too) before
    # any account, directory or file is created.
    check_tls_access(site)
    if dry_run:
        result.diffs = [d for d in (diff(f) for f in files) if d]
        return result

    configure = files[0]
    validate_configure(site.exim_binary, configure.content, configure.path.parent)
    prepare_host(site, tls_ca)
    result.changed = install_files(files, Path(site.etc_directory) / "backup")
    result.unchanged = [f.path for f in files if f.path not in result.changed]
    trust_configuration(site)
    if start_daemon:
        result.daemon = start_or_reload(site)
    return result


def prepare_host(site: Site, tls_ca: tuple[Path, Path] | None = None) -> None:
    """Create the users, folders, keys and certificates that the files name.

    Then check that the Exim group can read every key and password file.
    """
    accounts.ensure_exim_user(site.build.user, site.build.group)
    for name in site.accounts:
        accounts.ensure_mail_account(name)
    _make_directories(site)
    if "tls" in site.build.features and (site.tls.certificate or site.tls.generate):
        certificate, key = ensure_certificate(site, tls_ca)
        check_exim_can_read(key, site.build.user, site.build.group)
        check_exim_can_read(certificate, site.build.user, site.build.group)
    for domain in dkim_domains(site):
        check_readable_by_group(ensure_dkim_key(site, domain), site.build.group)
    check_secret_files(site)
    if site.smarthost is not None and site.smarthost.tls and site.tls.ca_certificate:
        check_ca_readable(site)


def check_ca_readable(site: Site) -> None:
    """Raise an error unless the Exim user can read the smarthost's CA file.

    The smtp transport runs as the Exim user. Exim 4.96 cannot verify the
    smarthost when it cannot stat its CA file, and the delivery process can
    crash with SIGSEGV instead of deferring.
    """
    path = site.resolve(site.tls.ca_certificate)
    if not path.is_file():
        raise ConfigError(f"{path}: CA certificate not found; check tls.ca_certificate")
    check_exim_can_read(path, site.build.user, site.build.group)


def trust_configuration(site: Site) -> None:
    """List the configuration in TRUSTED_CONFIG_LIST so -C keeps root."""
    trusted = Path(site.trusted_config_list)
    entries = trusted.read_text().split() if trusted.exists() else []
    if site.configure_file not in entries:
        trusted.parent.mkdir(parents=True, exist_ok=True)
        trusted.write_text("".join(f"{e}\n" for e in entries + [site.configure_file]))
        os.chmod(trusted, 0o644)


def daemon_pid(site: Site) -> int | None:
    """Return the pid of the site's running daemon, or None."""
    pid_file = Path(site.spool_directory) / "exim-daemon.pid"
    try:
        pid = int(pid_file.read_text().split()[0])
        os.kill(pid, 0)
    except (FileNotFoundError, ValueError, IndexError, ProcessLookupError):
        return None
    return pid


def daemon_command(site: Site) -> list[str]:
    """Return the command that starts the site's listening daemon."""
    return [site.exim_binary, "-C", site.configure_file, "-bd", "-q5m"]


def start_or_reload(site: Site) -> str:
    """Start the daemon, or send SIGHUP so it rereads its configuration."""
    pid = daemon_pid(site)
    if pid is not None:
        os.kill(pid, signal.SIGHUP)
        log.info("sent SIGHUP to the Exim daemon (pid %d)", pid)
        return f"reloaded (pid {pid})"
    run(daemon_command(site))
    return "started"


def stop_daemon(site: Site) -> bool:
    """Stop the site's daemon; return False when none was running."""
    pid = daemon_pid(site)
    if pid is None:
        return False
    os.kill(pid, signal.SIGTERM)
    return True


def _require_binary(site: Site) -> None:
    if not Path(site.exim_binary).exists():
        raise EximctlError(
            f"{site.exim_binary} not found; run 'eximctl build' for this site first"
        )


def _make_directories(site: Site) -> None:
    exim_uid = pwd.getpwnam(site.build.user).pw_uid
    exim_gid = grp.getgrnam(site.build.group).gr_gid
    for path in (site.spool_directory, site.log_directory):
        _directory(Path(path), exim_uid, exim_gid, 0o750)
    mail_gid = grp.getgrnam("mail").gr_gid
    # Like Debian's /var/mail: the mail group may create mailboxes, and the
    # setgid bit keeps new files in that group.
    _directory(Path(site.delivery.mail_directory), 0, mail_gid, 0o2775)
    for domain in ("virtual", "dkim", "tls"):
        _directory(Path(site.etc_directory) / domain, 0, exim_gid, 0o750)
    _directory(Path(site.etc_directory), 0, exim_gid, 0o755)


def _directory(path: Path, uid: int, gid: int, mode: int) -> None:
    path.mkdir(parents=True, exist_ok=True)
    os.chown(path, uid, gid)
    os.chmod(path, mode)


def planned_files(site: Site) -> list[RenderedFile]:
    """Return the files that a configure run would install."""
    return rendered_files(site)
