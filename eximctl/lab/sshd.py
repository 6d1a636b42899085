"""sshd in every lab host, reachable with a lab-only key for root.

The key pair, known_hosts and an ssh_config live in /var/lib/eximctl/lab/ssh.
The client configuration reaches a host from any namespace (the root one
included) through a ProxyCommand that enters the host's namespace, so
testinfra's ssh backend can use it with ``ssh_config=``.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from eximctl.lab.command import run, start_daemon
from eximctl.lab.hosts import HOSTS, LAB_ROOT, LabHost
from eximctl.lab.netns import kill_processes, runs_program, wait_for_socket
from eximctl.render import render

log = logging.getLogger(__name__)

SSH_ROOT = LAB_ROOT / "ssh"
CLIENT_KEY = SSH_ROOT / "id_ed25519"
AUTHORIZED_KEYS = SSH_ROOT / "authorized_keys"
KNOWN_HOSTS = SSH_ROOT / "known_hosts"
SSH_CONFIG = SSH_ROOT / "config"
SSHD = "/usr/sbin/sshd"
PRIVSEP_DIRECTORY = Path("/run/sshd")
_PROGRAM = "sshd"
_FIX = "install OpenSSH with 'apt-get install openssh-server openssh-client'"


def host_key(host: LabHost) -> Path:
    return host.root / "ssh" / "ssh_host_ed25519_key"


def sshd_config(host: LabHost) -> Path:
    return host.root / "ssh" / "sshd_config"


def pid_file(host: LabHost) -> Path:
    return host.root / "run" / "sshd.pid"


def log_file(host: LabHost) -> Path:
    return host.root / "run" / "sshd.log"


def _generate_key(path: Path, comment: str) -> None:
    """Create an Ed25519 key pair without a passphrase unless one exists."""
    if path.is_file() and path.with_suffix(".pub").is_file():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    path.unlink(missing_ok=True)
    path.with_suffix(".pub").unlink(missing_ok=True)
    run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        _FIX,
    )


def public_key(path: Path) -> str:
    """Return the public half of key ``path`` in OpenSSH one-line form."""
    return path.with_suffix(".pub").read_text().strip()


def write_client_files() -> None:
    """Create the lab key for root and the files that go with it.

    authorized_keys accepts the key only from the lab network, so the key
    opens nothing outside the lab even if it leaks.
    """
    _generate_key(CLIENT_KEY, "eximctl-lab")
    AUTHORIZED_KEYS.write_text(f'from="192.0.2.0/24" {public_key(CLIENT_KEY)}\n')
    AUTHORIZED_KEYS.chmod(0o600)

    lines = []
    for host in HOSTS:
        _generate_key(host_key(host), f"root@{host.fqdn}")
        key_type, key = public_key(host_key(host)).split()[:2]
        lines.append(f"{host.address},{host.fqdn},{host.name} {key_type} {key}\n")
    KNOWN_HOSTS.write_text("".join(lines))
    SSH_CONFIG.write_text(render_client_config())


def render_client_config() -> str:
    return render(
        "lab/ssh_config.j2",
        hosts=HOSTS,
        config_file=SSH_CONFIG,
        identity_file=CLIENT_KEY,
        known_hosts=KNOWN_HOSTS,
        python=sys.executable,
    )


def write_sshd_config(host: LabHost) -> Path:
    path = sshd_config(host)
    path.write_text(
        render(
            "lab/sshd_config.j2",
            fqdn=host.fqdn,
            address=host.address,
            host_key=host_key(host),
            pid_file=pid_file(host),
            authorized_keys=AUTHORIZED_KEYS,
        )
    )
    # sshd checks for its privilege separation folder even with -t.
    PRIVSEP_DIRECTORY.mkdir(mode=0o755, exist_ok=True)
    run([SSHD, "-t", "-f", str(path)], f"the generated {path} is invalid; {_FIX}")
    return path


def start_sshd(host: LabHost) -> str:
    """Start sshd on the host's lab address unless it runs; return what it did.

    sshd runs in its own UTS namespace with the host's name, so a login on
    mx1 reports mx1.alpha.test as its host name, as a real host would.
    """
    config = write_sshd_config(host)
    if runs_program(host.namespace, _PROGRAM):
        return "running"

    pid_file(host).parent.mkdir(parents=True, exist_ok=True)
    script = 'hostname "$1" && exec "$2" -f "$3" -E "$4"'
    start_daemon(
        ["ip", "netns", "exec", host.namespace, "unshare", "--uts"]
        + ["/bin/sh", "-c", script, "sh", host.fqdn, SSHD, str(config)]
        + [str(log_file(host))],
        log_file(host),
        f"check {log_file(host)}; {_FIX} if sshd is missing",
    )
    wait_for_socket(host.namespace, f"{host.address}:22")
    return "started"


def stop_sshd(host: LabHost) -> list[int]:
    return kill_processes(host.namespace, {_PROGRAM})
