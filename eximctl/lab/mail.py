"""The Exim daemon of each lab mail host."""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path

from eximctl.accounts import ensure_exim_user
from eximctl.configure import configure_site, daemon_pid
from eximctl.errors import LabError
from eximctl.lab.command import start_daemon
from eximctl.lab.hosts import LAB_ROOT, LabHost, find_host
from eximctl.lab.netns import runs_program, wait_for_socket
from eximctl.secrets import write_auth_passwords, write_smarthost_password
from eximctl.site import Site, bundled_site_path, load_site
from eximctl.tls_certs import create_ca

log = logging.getLogger(__name__)

EXIM = Path("/opt/eximctl/bin/exim")
QUEUE_INTERVAL = "30s"
LAB_CA_DIRECTORY = LAB_ROOT / "ca"
_PROGRAM = "exim"

# The lab's only SMTP AUTH user: mx1 logs in to the relay with it. The
# password is a fixed, public test value. Its caret, colon, dollar, space
# and backslash are each special somewhere in Exim's client_send.
LAB_RELAY_USER = "relay@alpha.test"
LAB_RELAY_PASSWORD = "p^ss:w$rd \\x"


def exim_available(binary: Path = EXIM) -> bool:
    return binary.is_file()


def require_exim(binary: Path = EXIM) -> None:
    """Raise LabError unless the Exim binary that the lab runs is installed."""
    if not exim_available(binary):
        raise LabError(
            f"{binary} not found; run 'eximctl build' first, or start the lab "
            "without mail daemons with 'eximctl lab up --no-mail'"
        )


def lab_site(host: LabHost) -> Site:
    """Load the bundled site file of lab mail host ``host``."""
    return load_site(bundled_site_path(host.site_name))


def lab_ca(site: Site) -> tuple[Path, Path] | None:
    """Create the lab CA if the site trusts it; return its certificate and key.

    Host certificates issued by this CA let the lab hosts verify each other's
    TLS certificates. A site that trusts another CA gets None.
    """
    if site.tls.ca_certificate != str(LAB_CA_DIRECTORY / "ca.crt"):
        return None
    ca = create_ca(LAB_CA_DIRECTORY)
    # The smtp transport reads ca.crt as the Exim user to verify the relay,
    # so the folder must be searchable by everyone; ca.key itself stays 0600.
    LAB_CA_DIRECTORY.chmod(0o755)
    return ca


def start_mail_host(site: Site, netns_name: str) -> str:
    """Configure the site and start its Exim daemon in ``netns_name``.

    Installs the configuration of ``site`` without starting a daemon, then
    runs ``exim -bd -q30s`` inside the namespace. Exim forks into the
    background and writes the pid file that its configuration names. Does
    nothing but configure when an Exim daemon runs there already, and sends
    it SIGHUP when the configuration changed. Returns what it did.
    """
    require_exim(Path(site.exim_binary))
    write_lab_secrets(site)
    result = configure_site(site, start_daemon=False, tls_ca=lab_ca(site))
    if runs_program(netns_name, _PROGRAM):
        return _reload(site, netns_name) if result.changed else "running"

    host = find_host(netns_name)
    output = host.root / "run" / "exim-daemon.log"
    start_daemon(
        ["ip", "netns", "exec", netns_name, site.exim_binary]
        + ["-C", site.configure_file, "-bd", f"-q{QUEUE_INTERVAL}"],
        output,
        f"check {output} and the Exim logs in {site.log_directory} "
        f"of lab host {host.name}",
    )
    for interface in site.daemon.interfaces:
        for port in site.daemon.ports:
            wait_for_socket(netns_name, f"{interface}:{port}")
    return "started"


def write_lab_secrets(site: Site) -> None:
    """Write the lab's smarthost password and relay users before configuring.

    Both files are rewritten on every start, so a test that changed a
    password leaves no trace in the next lab.
    """
    if site.smarthost is None and not site.auth.passwords_file:
        return
    ensure_exim_user(site.build.user, site.build.group)
    if site.smarthost is not None:
        write_smarthost_password(site, LAB_RELAY_PASSWORD)
    if site.auth.passwords_file:
        write_auth_passwords(site, {LAB_RELAY_USER: LAB_RELAY_PASSWORD})


def _reload(site: Site, netns_name: str) -> str:
    """Send SIGHUP to the running daemon so it rereads its configuration."""
    pid = daemon_pid(site)
    if pid is None:
        raise LabError(
            f"an Exim process runs in {netns_name} but no daemon pid file names "
            f"it in {site.spool_directory}; run 'eximctl lab down' and 'up' again"
        )
    log.info("configuration of %s changed; reloading Exim (pid %d)", netns_name, pid)
    os.kill(pid, signal.SIGHUP)
    return "reloaded"
