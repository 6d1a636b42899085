"""Fixtures and helpers for tests that run the network-namespace lab.

Import the fixtures into a test module to use them::

    from lab_fixtures import lab_no_mail, lab_zones  # noqa: F401

``lab_no_mail`` brings the lab up with DNS and sshd only (serving the zone
of ``lab_zones``) for the tests of one module, and tears it down after them.
Every lab fixture first runs ``lab_down``, so a lab left behind by an
interrupted run does not leak into the next one.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from eximctl.lab.control import NamespaceStatus, lab_down, lab_up
from eximctl.lab.hosts import find_host

# A small zone that does not depend on the zone generator.
ALPHA_ZONE = """\
$ORIGIN alpha.test.
$TTL 300
@    IN SOA ns.lab.test. hostmaster.alpha.test. 2026010101 3600 600 86400 300
@    IN NS  ns.lab.test.
@    IN MX  10 mx1.alpha.test.
@    IN MX  20 mx2.beta.test.
mx1  IN A   192.0.2.11
"""

LAB_TEST = """\
$ORIGIN lab.test.
$TTL 300
@    IN SOA ns.lab.test. hostmaster.lab.test. 2026010101 3600 600 86400 300
@    IN NS  ns.lab.test.
ns   IN A   192.0.2.53
"""


def require_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("the lab needs root")


def write_test_zones(directory: Path) -> Path:
    """Write the test zones (alpha.test, lab.test) into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "alpha.test.zone").write_text(ALPHA_ZONE)
    (directory / "lab.test.zone").write_text(LAB_TEST)
    return directory


def in_namespace(
    host: str, *command: str, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    """Run ``command`` inside lab host ``host``'s namespace and capture output."""
    namespace = find_host(host).namespace
    return subprocess.run(
        ["ip", "netns", "exec", namespace, *command],
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )


def python_in_namespace(host: str, code: str) -> subprocess.CompletedProcess[str]:
    """Run Python ``code`` inside lab host ``host``'s namespace."""
    return in_namespace(host, sys.executable, "-c", code)


@pytest.fixture(scope="module")
def lab_zones(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_test_zones(tmp_path_factory.mktemp("zones"))


@pytest.fixture(scope="module")
def lab_no_mail(lab_zones: Path) -> Iterator[list[NamespaceStatus]]:
    """Run the lab with DNS and sshd but no Exim for the tests of one module."""
    require_root()
    lab_down()
    try:
        yield lab_up(lab_zones, with_mail=False)
    finally:
        lab_down()
