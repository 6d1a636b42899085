"""Fixtures that run the network-namespace lab for the tests of one module.

Load them in a test module with ``pytest_plugins = ["lab_fixtures"]``; the
helper functions are in lab_helpers.

``lab_no_mail`` brings the lab up with DNS and sshd only, serving the zones
of ``lab_zones``, and tears it down after the module's tests.
``lab_with_mail`` does the same with an Exim daemon on every mail host,
building Exim from Debian's signed source first when it is not installed
or lacks a feature of the lab sites.
``lab_full`` runs the whole lab on the zones generated from the bundled lab
sites, as ``eximctl lab up`` does. Every lab fixture first runs
``lab_down``, so a lab left behind by an interrupted run does not leak into
the next one.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from lab_helpers import require_root, write_test_zones

from eximctl.build import build_site, exim_bv
from eximctl.features import missing_features
from eximctl.lab import mail
from eximctl.lab.control import NamespaceStatus, lab_down, lab_up
from eximctl.lab.hosts import find_host
from eximctl.lab.mail import lab_site
from eximctl.source import obtain_source


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


def ensure_lab_exim() -> None:
    """Build and install the lab's Exim when it is missing or lacks a feature.

    An Exim built before a feature joined the lab sites' build.features is
    rebuilt, so a lab test never runs on a binary without it.
    """
    site = lab_site(find_host("mx1"))
    if mail.exim_available() and not missing_features(
        exim_bv(site), site.build.features
    ):
        return
    build_site(site, obtain_source(site))


@pytest.fixture(scope="module")
def lab_with_mail(lab_zones: Path) -> Iterator[list[NamespaceStatus]]:
    """Run the lab, Exim daemons included, on the small test zones."""
    require_root()
    ensure_lab_exim()
    lab_down()
    try:
        yield lab_up(lab_zones, with_mail=True)
    finally:
        lab_down()


@pytest.fixture(scope="module")
def lab_full() -> Iterator[list[NamespaceStatus]]:
    """Run the whole lab on the zones generated from the bundled lab sites."""
    require_root()
    ensure_lab_exim()
    lab_down()
    try:
        yield lab_up(None, with_mail=True)
    finally:
        lab_down()
