"""Syntax rules of the mail TXT records: SPF, DMARC and DKIM key records.

Each function returns a problem as one sentence that names the fix, or None
when the value is valid. The same rules check site values before any zone is
built and the records of zone files that are already written.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections.abc import Callable

from cryptography.hazmat.primitives.serialization import load_der_public_key

# RFC 7208 section 4.6.4: these terms cause DNS queries, and a check that
# needs more than 10 of them in total returns permerror.
SPF_LOOKUP_TERMS = frozenset({"include", "a", "mx", "ptr", "exists", "redirect"})
MAX_SPF_LOOKUPS = 10
_SPF_MECHANISMS = frozenset(
    {"all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists"}
)
_SPF_NEEDS_DOMAIN = frozenset({"include", "exists"})
_SPF_MODIFIER = re.compile(r"^([A-Za-z][A-Za-z0-9_.-]*)=(.*)$")
_QUALIFIERS = "+-~?"

DMARC_POLICIES = ("none", "quarantine", "reject")
_DMARC_ALIGNMENT = ("r", "s")
_URI_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$")
_DKIM_KEY_TYPES = ("rsa", "ed25519")
ED25519_KEY_BYTES = 32

# Returns the SPF record published at a name, or None outside our zones.
SpfLookup = Callable[[str], str | None]


def is_spf(text: str) -> bool:
    """Return True when a TXT value is an SPF record (RFC 7208 section 4.5)."""
    lowered = text.lower()
    return lowered == "v=spf1" or lowered.startswith("v=spf1 ")


def spf_problem(value: str) -> str | None:
    """Check the syntax of an SPF record and its own count of DNS lookups."""
    if not is_spf(value):
        return f"{value!r} does not start with 'v=spf1 '"
    modifiers: set[str] = set()
    for term in value.split()[1:]:
        problem = _spf_term_problem(term, modifiers)
        if problem:
            return problem
    count = len(spf_lookup_terms(value))
    if count > MAX_SPF_LOOKUPS:
        return _too_many_lookups(count)
    return None


def _spf_term_problem(term: str, modifiers: set[str]) -> str | None:
    modifier = _SPF_MODIFIER.match(term)
    if modifier:
        name = modifier.group(1).lower()
        if name in modifiers and name in ("redirect", "exp"):
            return f"the modifier {name}= appears twice; keep one"
        modifiers.add(name)
        if name in ("redirect", "exp") and not modifier.group(2):
            return f"{term!r} needs a domain after '='"
        return None
    mechanism, _, argument = term.lstrip(_QUALIFIERS).partition(":")
    mechanism = mechanism.split("/")[0].lower()
    if mechanism not in _SPF_MECHANISMS:
        known = ", ".join(sorted(_SPF_MECHANISMS))
        return f"unknown SPF mechanism in {term!r}; use one of {known}"
    if mechanism in _SPF_NEEDS_DOMAIN and not argument:
        return f"{term!r} needs a domain, as in '{mechanism}:example.org'"
    if mechanism in ("ip4", "ip6"):
        return _spf_network_problem(term, mechanism, argument)
    return None


def _spf_network_problem(term: str, mechanism: str, argument: str) -> str | None:
    version = 4 if mechanism == "ip4" else 6
    try:
        network = ipaddress.ip_network(argument, strict=False)
    except ValueError:
        return f"{term!r} has an invalid IPv{version} address or network"
    if network.version != version:
        return f"{term!r} needs an IPv{version} address"
    return None


def spf_lookup_terms(value: str) -> list[tuple[str, str]]:
    """Return (term name, domain) for each term of ``value`` that queries DNS.

    A redirect is left out when the record has an 'all' mechanism, because
    RFC 7208 section 6.1 then ignores the redirect.
    """
    terms: list[tuple[str, str]] = []
    has_all = False
    for term in value.split()[1:]:
        modifier = _SPF_MODIFIER.match(term)
        if modifier:
            name, argument = modifier.group(1).lower(), modifier.group(2)
        else:
            name, _, argument = term.lstrip(_QUALIFIERS).partition(":")
            name = name.split("/")[0].lower()
        has_all = has_all or name == "all"
        if name in SPF_LOOKUP_TERMS:
            terms.append((name, argument.split("/")[0]))
    if has_all:
        terms = [t for t in terms if t[0] != "redirect"]
    return terms


def spf_lookup_count(value: str, lookup: SpfLookup, seen: tuple[str, ...] = ()) -> int:
    """Count the DNS-querying terms of ``value``, following include and redirect.

    An include or redirect whose target ``lookup`` finds (a name in our zones)
    adds the terms of that record. Raises ValueError on an include loop.
    """
    count = 0
    for name, domain in spf_lookup_terms(value):
        count += 1
        if name not in ("include", "redirect") or not domain:
            continue
        target = domain.lower().rstrip(".")
        if target in seen:
            path = " -> ".join((*seen, target))
            raise ValueError(f"SPF include loop {path}; remove one include")
        record = lookup(target)
        if record is not None:
            count += spf_lookup_count(record, lookup, (*seen, target))
    return count


def _too_many_lookups(count: int) -> str:
    return (
        f"needs {count} DNS lookups, but SPF allows at most {MAX_SPF_LOOKUPS} "
        "(RFC 7208 section 4.6.4); replace a, mx or include terms with ip4/ip6 "
        "networks"
    )


def spf_total_problem(value: str, lookup: SpfLookup, name: str) -> str | None:
    """Check the lookup count of the SPF record at ``name``, includes followed."""
    try:
        count = spf_lookup_count(value, lookup, (name.lower().rstrip("."),))
    except ValueError as exc:
        return str(exc)
    if count > MAX_SPF_LOOKUPS:
        return _too_many_lookups(count)
    return None


def dmarc_problem(value: str) -> str | None:
    """Check a DMARC record: v=DMARC1 first, then p=, then valid tag values.

    RFC 7489 section 6.4 fixes this order in its grammar, and receivers
    ignore a record that does not start that way.
    """
    tags = [t.strip() for t in value.split(";")]
    tags = [t for t in tags if t]
    if not tags or tags[0] != "v=DMARC1":
        return f"{value!r} must start with 'v=DMARC1;'"
    if len(tags) < 2 or not tags[1].startswith("p="):
        return (
            f"in {value!r} the first tag after v=DMARC1 must be p=, as in "
            "'v=DMARC1; p=reject; rua=mailto:postmaster@example.org'"
        )
    seen: set[str] = set()
    for tag in tags[1:]:
        name, equals, tag_value = (part.strip() for part in tag.partition("="))
        if not equals or not name:
            return f"{tag!r} in {value!r} is not a name=value tag"
        if name in seen:
            return f"the tag {name}= appears twice in {value!r}; keep one"
        seen.add(name)
        problem = _dmarc_tag_problem(name, tag_value)
        if problem:
            return problem
    return None


def _dmarc_tag_problem(name: str, value: str) -> str | None:
    if name in ("p", "sp") and value not in DMARC_POLICIES:
        choices = ", ".join(DMARC_POLICIES)
        return f"invalid DMARC policy {name}={value}; use one of {choices}"
    if name in ("adkim", "aspf") and value not in _DMARC_ALIGNMENT:
        return f"invalid DMARC alignment {name}={value}; use r (relaxed) or s (strict)"
    if name == "pct" and not (value.isdigit() and 0 <= int(value) <= 100):
        return f"invalid DMARC pct={value}; use a whole number from 0 to 100"
    if name in ("rua", "ruf"):
        for uri in value.split(","):
            if not _URI_SCHEME.match(uri.strip()):
                return (
                    f"invalid report address {uri.strip()!r} in {name}=; use a "
                    "URI such as mailto:dmarc@example.org"
                )
    return None


def dkim_tags(value: str) -> dict[str, str]:
    """Split a DKIM key record into its tags (RFC 6376 section 3.2)."""
    tags: dict[str, str] = {}
    for part in value.split(";"):
        name, _, tag_value = part.partition("=")
        if name.strip():
            tags[name.strip()] = "".join(tag_value.split())
    return tags


def dkim_problem(value: str) -> str | None:
    """Check a DKIM key record: v=DKIM1 first if present, k= and a valid p=."""
    tags = dkim_tags(value)
    if "v" in tags and (tags["v"] != "DKIM1" or next(iter(tags)) != "v"):
        return f"{value[:40]!r}... must start with 'v=DKIM1;' when it has v="
    key_type = tags.get("k", "rsa")
    if key_type not in _DKIM_KEY_TYPES:
        return f"invalid DKIM key type k={key_type}; use rsa or ed25519"
    if "p" not in tags:
        return "the DKIM record has no p= tag; publish the public key in p="
    try:
        key = base64.b64decode(tags["p"], validate=True)
    except binascii.Error:
        return "the DKIM p= value is not valid base64"
    if key_type == "ed25519" and len(key) != ED25519_KEY_BYTES:
        return f"an ed25519 p= must be {ED25519_KEY_BYTES} bytes, not {len(key)}"
    if key_type == "rsa" and key:
        try:
            load_der_public_key(key)
        except ValueError:
            return "the DKIM p= value is not a DER-encoded RSA public key"
    return None
