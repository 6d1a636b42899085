"""Safe extraction: members that could escape the tree are refused by name."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest
from support.source_helpers import make_tarball

from eximctl.errors import BadSignatureError, UnsafeArchiveError
from eximctl.extract import safe_extract
from eximctl.source import VerifiedSource, extract_source


def _archive(tmp_path: Path, *members: tarfile.TarInfo) -> Path:
    path = tmp_path / "evil.tar.xz"
    with tarfile.open(path, "w:xz") as tar:
        ok = tarfile.TarInfo("exim-4.99/README")
        ok.size = 3
        tar.addfile(ok, io.BytesIO(b"ok\n"))
        for member in members:
            data = io.BytesIO(b"x" * member.size) if member.isfile() else None
            tar.addfile(member, data)
    return path


def _file(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = 1
    return info


def _link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info


def _special(name: str, kind: bytes) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.devmajor, info.devminor = 1, 3
    return info


@pytest.mark.parametrize(
    ("member", "reason"),
    [
        (_file("/etc/cron.d/evil"), "absolute path"),
        (_file("exim-4.99/../../evil"), "path contains '..'"),
        (_file("../evil"), "path contains '..'"),
        (_link("exim-4.99/escape", "../../etc"), "symlink to '../../etc' leaves"),
        (_link("exim-4.99/abs", "/etc/passwd"), "symlink to the absolute path"),
        (
            _link("exim-4.99/hard", "../outside", tarfile.LNKTYPE),
            "hard link to '../outside' leaves",
        ),
        (_special("exim-4.99/null", tarfile.CHRTYPE), "device file"),
        (_special("exim-4.99/disk", tarfile.BLKTYPE), "device file"),
        (_special("exim-4.99/pipe", tarfile.FIFOTYPE), "FIFO"),
    ],
    ids=[
        "absolute",
        "dotdot-inner",
        "dotdot",
        "escaping-symlink",
        "absolute-symlink",
        "escaping-hardlink",
        "char-device",
        "block-device",
        "fifo",
    ],
)
def test_unsafe_member_is_rejected(
    tmp_path: Path, member: tarfile.TarInfo, reason: str
) -> None:
    archive = _archive(tmp_path, member)
    dest = tmp_path / "out"
    with pytest.raises(UnsafeArchiveError) as caught:
        safe_extract(archive, dest)
    assert caught.value.member == member.name
    assert repr(member.name) in str(caught.value)
    assert reason in str(caught.value)
    # Nothing is written before every member has been checked.
    assert not any(dest.iterdir())


def test_symlink_chain_out_of_the_tree_is_rejected(tmp_path: Path) -> None:
    # Each link stays inside on its own; together they point outside.
    archive = _archive(
        tmp_path,
        _link("exim-4.99/a", "."),
        # Read as text, exim-4.99/a/../.. is the archive root; on disk a is
        # exim-4.99 itself, so b points above the destination.
        _link("exim-4.99/a/b", "../.."),
        _file("exim-4.99/a/b/escaped"),
    )
    with pytest.raises(UnsafeArchiveError) as caught:
        safe_extract(archive, tmp_path / "out")
    assert caught.value.member.startswith("exim-4.99/a/b")
    assert not (tmp_path / "escaped").exists()
    assert not any((tmp_path / "out").iterdir())
    assert not (tmp_path / "escaped").exists()


def test_inner_links_are_fine(tmp_path: Path) -> None:
    archive = _archive(
        tmp_path,
        _file("exim-4.99/src/exim.c"),
        _link("exim-4.99/src/link.c", "exim.c"),
        _link("exim-4.99/doc/up", "../README"),
        _link("exim-4.99/hard.c", "exim-4.99/src/exim.c", tarfile.LNKTYPE),
    )
    source = safe_extract(archive, tmp_path / "out")
    assert source == tmp_path / "out" / "exim-4.99"
    assert (source / "src" / "link.c").read_bytes() == b"x"
    assert (source / "doc" / "up").read_bytes() == b"ok\n"


def test_destination_must_be_fresh(tmp_path: Path) -> None:
    archive = tmp_path / "good.tar.xz"
    archive.write_bytes(make_tarball())
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "leftover").write_text("old build")
    with pytest.raises(UnsafeArchiveError, match="not empty"):
        safe_extract(archive, dest)


def test_archive_without_an_exim_folder(tmp_path: Path) -> None:
    archive = tmp_path / "other.tar.xz"
    archive.write_bytes(make_tarball(top="postfix-3.8"))
    with pytest.raises(UnsafeArchiveError, match="exactly one top-level exim-X.Y"):
        safe_extract(archive, tmp_path / "out")


def test_extract_source_refuses_a_tarball_changed_after_verification(
    tmp_path: Path,
) -> None:
    archive = tmp_path / "exim-4.99.tar.xz"
    archive.write_bytes(make_tarball())
    verified = VerifiedSource(
        tarball=archive,
        signature=tmp_path / "exim-4.99.tar.xz.asc",
        keyring=tmp_path / "keyring.asc",
        sha256="0" * 64,
        version="4.99",
        fingerprint="A986F3A6BD6377D8730958DEBCE58C8CE41F32DF",
        signer="test",
        origin=str(archive),
    )
    with pytest.raises(BadSignatureError, match="changed after it was verified"):
        extract_source(verified, tmp_path / "out")
    assert not (tmp_path / "out").exists()
