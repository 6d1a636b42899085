"""The committed zones/ folder is exactly what the bundled lab sites produce."""

from __future__ import annotations

import difflib
import shutil
from pathlib import Path

from eximctl.lab_sites import LAB_NAMESERVER, lab_sites
from eximctl.zone_checks import check_zone_files
from eximctl.zone_files import write_zones
from eximctl.zones import build_zones, dkim_key_files

COMMITTED = Path(__file__).resolve().parent.parent / "zones"


def unified_diff(expected: Path, produced: Path) -> str:
    old = expected.read_text().splitlines(keepends=True) if expected.exists() else []
    new = produced.read_text().splitlines(keepends=True) if produced.exists() else []
    return "".join(
        difflib.unified_diff(
            old, new, f"committed/{expected.name}", f"new/{produced.name}"
        )
    )


def test_committed_zones_reproduce(tmp_path: Path) -> None:
    # The regenerated files start as copies of the committed ones, so the
    # serials match whenever the records match: write_zones keeps a file,
    # serial included, when only the serial would change.
    directory = tmp_path / "zones"
    shutil.copytree(COMMITTED, directory)
    sites = lab_sites()
    # A fresh key root: no lab key is installed there, as on a new CI machine.
    key_root = tmp_path / "root"
    zones = build_zones(sites, LAB_NAMESERVER, key_root=key_root)
    statuses = write_zones(zones, directory, dkim_keys=dkim_key_files(sites, key_root))
    names = sorted(
        {p.name for p in COMMITTED.glob("*.zone")} | {f"{d}.zone" for d in zones}
    )
    diffs = [unified_diff(COMMITTED / n, directory / n) for n in names]
    report = "".join(diffs)
    assert report == "", f"zones/ is out of date; run 'eximctl zones':\n{report}"
    assert set(statuses.values()) == {"unchanged"}
    assert sorted(p.name for p in COMMITTED.glob("*.zone")) == [
        f"{d}.zone" for d in sorted(zones)
    ]


def test_committed_zones_pass_checks() -> None:
    sites = lab_sites()
    problems = check_zone_files(COMMITTED, dkim_key_files(sites, create=False))
    assert [str(p) for p in problems] == []
