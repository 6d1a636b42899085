"""The Jinja environment shared by every template, with Exim quoting filters."""

from __future__ import annotations

from functools import cache

import jinja2

from eximctl.paths import templates_dir


@cache
def environment() -> jinja2.Environment:
    """Return the template environment; an undefined variable is an error."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    env.filters["exim_list"] = exim_list
    env.filters["exim_quote"] = exim_quote
    return env


def render(template: str, **context: object) -> str:
    """Render the named template with ``context``."""
    return environment().get_template(template).render(**context)


def exim_list(items: list[str] | tuple[str, ...], separator: str = ":") -> str:
    """Join items into an Exim list, switching separator when one contains it.

    Exim lists are colon-separated; IPv6 addresses contain colons, so such a
    list starts with ``<;`` and uses semicolons (Exim specification, chapter
    "Domain, host, address, and local part lists").
    """
    if any(separator in item for item in items):
        return "<; " + " ; ".join(items)
    return f" {separator} ".join(items)


def exim_quote(value: str) -> str:
    """Quote a string for an Exim option value inside double quotes.

    Inside a quoted string Exim interprets backslash escapes, and the
    expansion step interprets ``$`` and ``\\``; both are escaped so the value
    reaches Exim unchanged.
    """
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")
    return f'"{escaped}"'
