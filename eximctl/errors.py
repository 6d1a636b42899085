"""The error hierarchy: every failure a user can act on is an EximctlError.

The CLI prints ``str(error)`` as one line and exits 1. Each subclass carries the
value that failed (a URL, a path, a fingerprint, a return code) as a field.
"""

from __future__ import annotations

from pathlib import Path


class EximctlError(Exception):
    """A failure that eximctl reports to the user without a traceback."""


class SiteError(EximctlError):
    """The site file is invalid."""

    def __init__(self, key: str, message: str, path: str = "") -> None:
        self.key = key
        self.message = message
        self.path = path
        where = f"site file {path}" if path else "site file"
        super().__init__(f"{where}: {key}: {message}")


class DownloadError(EximctlError):
    """A download failed, or the downloaded file is empty or truncated."""

    def __init__(self, url: str, message: str) -> None:
        self.url = url
        # Local files pass the same checks as downloads; the message names which.
        what = "download of" if "://" in url or url.startswith("apt-get") else "file"
        super().__init__(f"{what} {url} failed: {message}")


class VersionNotAvailableError(EximctlError):
    """The source cannot supply the Exim version that the site pins."""

    def __init__(self, version: str, available: list[str], source: str) -> None:
        self.version = version
        self.available = available
        listed = ", ".join(available) or "none"
        super().__init__(
            f"Exim {version} is not available from {source} (it has: {listed}); "
            "change source.version in the site file or choose another source"
        )


class SignatureError(EximctlError):
    """A signature check failed: missing, bad, untrusted key or wrong file."""

    def __init__(self, path: Path, message: str) -> None:
        self.path = path
        super().__init__(f"signature check of {path} failed: {message}")


class UntrustedKeyError(SignatureError):
    """The signature is valid but made by a key whose fingerprint is not pinned."""

    def __init__(self, path: Path, fingerprint: str) -> None:
        self.fingerprint = fingerprint
        super().__init__(
            path,
            f"signed by key {fingerprint}, which is not a pinned Exim maintainer "
            "key; add it with --trust-fingerprint only after checking it "
            "out of band",
        )


class UnsafeArchiveError(EximctlError):
    """The tarball contains a member that would escape the extraction folder."""

    def __init__(self, archive: Path, member: str, reason: str) -> None:
        self.archive = archive
        self.member = member
        super().__init__(f"unsafe member {member!r} in {archive}: {reason}")


class MissingDependencyError(EximctlError):
    """A Debian package that the build needs is not installed."""

    def __init__(self, packages: dict[str, str]) -> None:
        self.packages = packages
        reasons = "; ".join(f"{pkg} ({why})" for pkg, why in packages.items())
        names = " ".join(packages)
        super().__init__(
            f"missing build dependencies: {reasons}; run "
            f"'apt-get install {names}' or 'eximctl build --install-deps'"
        )


class CommandError(EximctlError):
    """An external command failed."""

    def __init__(self, command: list[str], returncode: int, output: str) -> None:
        self.command = command
        self.returncode = returncode
        self.output = output
        tail = "\n".join(output.strip().splitlines()[-15:])
        super().__init__(
            f"command {' '.join(command)!r} failed with exit code {returncode}"
            + (f":\n{tail}" if tail else "")
        )


class BuildError(EximctlError):
    """The Exim build failed or lacks a feature the site asked for."""


class ConfigError(EximctlError):
    """A rendered Exim configuration failed validation."""


class ZoneError(EximctlError):
    """A zone file or one of its records is invalid."""

    def __init__(self, record: str, message: str) -> None:
        self.record = record
        super().__init__(f"zone record {record}: {message}")


class LabError(EximctlError):
    """The network-namespace lab could not be set up or torn down."""


class KeyFileError(EximctlError):
    """A DKIM key, TLS key or certificate file is missing, invalid or unsafe."""

    def __init__(self, path: Path, message: str) -> None:
        self.path = path
        super().__init__(f"{path}: {message}")


class KeyPermissionError(KeyFileError):
    """A key file cannot be read by the group that the Exim transports run as."""

    def __init__(self, path: Path, owner: str, group: str, message: str) -> None:
        self.owner = owner
        self.group = group
        super().__init__(path, message)


class GroupNotFoundError(EximctlError):
    """A Unix group that a key file must belong to does not exist yet."""

    def __init__(self, group: str, path: Path) -> None:
        self.group = group
        self.path = path
        super().__init__(
            f"group {group!r} does not exist, so {path} cannot be given to it; "
            "run 'eximctl build' first (it creates the Exim user and group) "
            f"or create it with 'groupadd --system {group}'"
        )


class MissingSignatureError(SignatureError):
    """The detached signature is missing, or the file is not a signature."""

    def __init__(self, path: Path, signature: str, reason: str = "") -> None:
        self.signature = signature
        super().__init__(
            path,
            f"no usable signature: {reason or f'{signature} does not exist'}; "
            "eximctl never builds an unsigned source",
        )


class UnknownKeyError(SignatureError):
    """The signature names a key that the keyring does not contain."""

    def __init__(self, path: Path, key_id: str, keyring: Path) -> None:
        self.key_id = key_id
        self.keyring = keyring
        super().__init__(
            path,
            f"signed by key {key_id}, which is not in the keyring {keyring} "
            "(no public key); give the keyring that holds it with --keyring",
        )


class BadSignatureError(SignatureError):
    """The signature does not match the file: altered, or made for another file."""

    def __init__(self, path: Path, signature: Path, note: str = "") -> None:
        self.signature = signature
        super().__init__(
            path,
            f"BAD signature: {signature} does not match the file (the file was "
            "altered or truncated, or the signature is for another file)"
            + (f"; {note}" if note else ""),
        )


class ExpiredKeyError(SignatureError):
    """The signing key (or the signature itself) has expired."""

    def __init__(self, path: Path, key_id: str, what: str = "signing key") -> None:
        self.key_id = key_id
        super().__init__(
            path,
            f"the {what} {key_id} has expired, so the signature is not accepted",
        )


class RevokedKeyError(SignatureError):
    """The signing key has been revoked by its owner."""

    def __init__(self, path: Path, key_id: str) -> None:
        self.key_id = key_id
        super().__init__(
            path,
            f"the signing key {key_id} has been revoked, so the signature is "
            "not accepted",
        )


class FingerprintError(EximctlError):
    """A trusted-key fingerprint is not a full 40-hex OpenPGP fingerprint."""

    def __init__(self, value: str) -> None:
        self.value = value
        super().__init__(
            f"invalid key fingerprint {value!r}: give the full 40-hex-digit "
            "fingerprint (short or long key ids and user ids are not accepted)"
        )


class SecretFileError(EximctlError):
    """A password file is missing, unsafe, or contains a value Exim cannot send.

    The message names the file and the problem, never the secret itself.
    """

    def __init__(self, path: Path, message: str) -> None:
        self.path = path
        super().__init__(f"{path}: {message}")


class TlsCheckError(EximctlError):
    """A TLS check could not run its client on the host under test."""

    def __init__(self, address: str, message: str) -> None:
        self.address = address
        super().__init__(f"TLS check of {address}: {message}")
