"""tls.min_version: the rendered protocol floor, and a real daemon enforcing it.

The daemon runs on 127.0.0.1 inside a network namespace of its own
(``unshare --net``) that has only a loopback interface, so it cannot reach
any DNS or other host. The namespace ends with the process.
"""

from __future__ import annotations

import grp
import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from eximctl.files import render_configure
from eximctl.site import Site, parse_site
from eximctl.tls_certs import ensure_certificate

EXIM = Path("/opt/eximctl/bin/exim")
PORT = 2587

SITE = """
accounts = ["ann"]
[host]
name = "mail.floor.test"
[build]
prefix = "/opt/eximctl"
config_directory = "{root}/etc"
spool_directory = "{root}/spool"
log_directory = "{root}/log"
[daemon]
ports = [{port}]
interfaces = ["127.0.0.1"]
relay_from_hosts = []
[delivery]
mail_directory = "{root}/mail"
[spf]
check = false
[tls]
min_version = "{version}"
[[domains]]
name = "floor.test"
"""

# Runs inside the new namespace: loopback up, Exim in the foreground, one
# handshake per protocol version, then Exim is stopped.
NAMESPACE_SCRIPT = r"""
import json, socket, ssl, subprocess, sys, time
exim, configure, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
daemon = subprocess.Popen([exim, "-C", configure, "-bdf", "-oX", str(port)])
results = {}
try:
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    for name in ("TLSv1_2", "TLSv1_3"):
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        context.minimum_version = context.maximum_version = ssl.TLSVersion[name]
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        reader = sock.makefile("rb")
        try:
            reader.readline()
            sock.sendall(b"EHLO client.floor.test\r\n")
            while reader.readline()[3:4] == b"-":
                pass
            sock.sendall(b"STARTTLS\r\n")
            reader.readline()
            with context.wrap_socket(sock) as tls:
                results[name] = {"version": tls.version()}
        except (OSError, ssl.SSLError) as exc:
            results[name] = {"error": str(exc)}
finally:
    daemon.terminate()
    daemon.wait(10)
json.dump(results, sys.stdout)
"""


def floor_site(root: Path, version: str) -> Site:
    text = SITE.format(root=root, port=PORT, version=version)
    return parse_site(text, root / "site.toml")


def test_floor_tls12_renders_options() -> None:
    text = render_configure(floor_site(Path("/nonexistent"), "TLSv1.2"))
    assert "openssl_options = +no_sslv2 +no_sslv3 +no_tlsv1 +no_tlsv1_1\n" in text


def test_floor_tls13_renders_options() -> None:
    text = render_configure(floor_site(Path("/nonexistent"), "TLSv1.3"))
    options = "+no_sslv2 +no_sslv3 +no_tlsv1 +no_tlsv1_1 +no_tlsv1_2"
    assert f"openssl_options = {options}\n" in text


@pytest.fixture
def floor_root() -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.fail("this test starts an Exim daemon and must run as root")
    root = Path(tempfile.mkdtemp(prefix="eximctl-tls-floor-", dir="/var/tmp"))
    os.chmod(root, 0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


def run_daemon_and_clients(root: Path, version: str) -> dict[str, Any]:
    """Start the floor site's daemon in its own namespace; handshake twice."""
    site = floor_site(root, version)
    uid = pwd.getpwnam(site.build.user).pw_uid
    gid = grp.getgrnam(site.build.group).gr_gid
    for directory in (site.spool_directory, site.log_directory):
        Path(directory).mkdir(parents=True)
        os.chown(directory, uid, gid)
    ensure_certificate(site)
    configure = Path(site.configure_file)
    configure.write_text(render_configure(site))
    completed = subprocess.run(
        ["unshare", "--net", sys.executable, "-c", NAMESPACE_SCRIPT]
        + [str(EXIM), str(configure), str(PORT)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert completed.returncode == 0, completed.stderr
    result: dict[str, Any] = json.loads(completed.stdout)
    return result


@pytest.mark.exim
def test_floor_tls13_rejects_tls12_client(floor_root: Path) -> None:
    if not EXIM.is_file():
        pytest.fail(f"{EXIM} is missing; run 'eximctl build' first")
    result = run_daemon_and_clients(floor_root, "TLSv1.3")
    assert "error" in result["TLSv1_2"]
    assert "protocol version" in result["TLSv1_2"]["error"].lower()
    assert result["TLSv1_3"] == {"version": "TLSv1.3"}
    mainlog = (floor_root / "log" / "mainlog").read_text()
    assert "(SSL_accept): (TLSv1.2)" in mainlog


@pytest.mark.exim
def test_floor_tls12_accepts_tls12_client(floor_root: Path) -> None:
    if not EXIM.is_file():
        pytest.fail(f"{EXIM} is missing; run 'eximctl build' first")
    result = run_daemon_and_clients(floor_root, "TLSv1.2")
    assert result["TLSv1_2"] == {"version": "TLSv1.2"}
    assert result["TLSv1_3"] == {"version": "TLSv1.3"}
