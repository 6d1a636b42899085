"""Compile-time features: what each needs to build and how exim -bV shows it."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class FeatureSpec:
    """One site feature: its Debian build dependency and its -bV evidence."""

    name: str
    packages: tuple[str, ...]
    bv_line: str
    bv_word: str


FEATURES: dict[str, FeatureSpec] = {
    "tls": FeatureSpec("tls", ("libssl-dev",), "Support for", "OpenSSL"),
    "dkim": FeatureSpec("dkim", (), "Support for", "DKIM"),
    "spf": FeatureSpec("spf", ("libspf2-dev",), "Support for", "SPF"),
    "dane": FeatureSpec("dane", ("libssl-dev",), "Support for", "DANE"),
    "maildir": FeatureSpec("maildir", (), "Transports", "appendfile/maildir"),
}

# Always needed: the compiler and make, pkg-config for OpenSSL's flags, Perl
# for Exim's build scripts, and Berkeley DB for the hints databases.
BASE_PACKAGES: dict[str, str] = {
    "gcc": "the C compiler",
    "make": "GNU make",
    "libc6-dev": "C library headers",
    "pkg-config": "compiler flags for OpenSSL",
    "perl": "Exim's build scripts",
    "libdb5.3-dev": "Berkeley DB for Exim's hints databases",
}


def pcre_package(version: str) -> tuple[str, str]:
    """Return the PCRE development package for an Exim version, with the reason.

    Exim 4.96 moved from PCRE1 to PCRE2; older releases need PCRE1.
    """
    if version_tuple(version) >= (4, 96):
        return "libpcre2-dev", f"PCRE2, needed by Exim {version} (4.96 and later)"
    return "libpcre3-dev", f"PCRE1, needed by Exim {version} (before 4.96)"


def required_packages(version: str, features: tuple[str, ...]) -> dict[str, str]:
    """Return the Debian packages that a build needs, each with its reason."""
    needed = dict(BASE_PACKAGES)
    pcre, why = pcre_package(version)
    needed[pcre] = why
    for name in features:
        for package in FEATURES[name].packages:
            needed.setdefault(package, f"the {name} feature")
    return needed


def version_tuple(version: str) -> tuple[int, ...]:
    """Return the numeric parts of an Exim version such as '4.96' or '4.97.1'."""
    return tuple(int(part) for part in re.findall(r"\d+", version))


def parse_bv(output: str) -> dict[str, list[str]]:
    """Parse ``exim -bV`` output into its labelled lines, split into words."""
    lines: dict[str, list[str]] = {}
    for line in output.splitlines():
        label, sep, rest = line.partition(":")
        if sep and label and not label.startswith(" "):
            lines[label.strip()] = rest.split()
    return lines


def missing_features(bv_output: str, features: tuple[str, ...]) -> list[str]:
    """Return the requested features that ``exim -bV`` does not list."""
    parsed = parse_bv(bv_output)
    missing = []
    for name in features:
        spec = FEATURES[name]
        if spec.bv_word not in parsed.get(spec.bv_line, []):
            missing.append(name)
    return missing
