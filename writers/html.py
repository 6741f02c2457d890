"""The report as HTML: Jinja2 with autoescaping on, templates in ``report_templates/``."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

from healthplan.settings import REPO_ROOT

TEMPLATES_DIR = REPO_ROOT / "report_templates"
TEMPLATE = "report.html.j2"


def sym(text: object) -> Markup:
    """Escape, then turn only ``_{…}``, ``^{…}`` and ``hat{…}`` into sub/sup/circumflex markup."""
    s = str(escape(text))
    s = re.sub(r"hat\{([^{}<>]*)\}", r'<span class="hat">\1</span>', s)
    s = re.sub(r"_\{([^{}<>]*)\}", r"<sub>\1</sub>", s)
    s = re.sub(r"\^\{([^{}<>]*)\}", r"<sup>\1</sup>", s)
    return Markup(s)


def css_string(text: object) -> Markup:
    """A quoted CSS string for a <style> block: ASCII punctuation as hex escapes (no quote,
    backslash or '</style' can end it early); letters, digits, spaces and CJK as they are."""
    out = []
    for ch in str(text):
        if ch.isalnum() or ch in " \u3000" or (ord(ch) > 127 and ch.isprintable()):
            out.append(ch)
        else:
            out.append(f"\\{ord(ch):x} ")
    return Markup('"' + "".join(out) + '"')


def template_env(templates_dir: Path = TEMPLATES_DIR) -> Environment:
    env = Environment(
        loader=FileSystemLoader(templates_dir),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )
    env.filters["sym"] = sym
    env.filters["css_string"] = css_string
    return env


def render_html(context: Mapping[str, Any], templates_dir: Path = TEMPLATES_DIR) -> str:
    return template_env(templates_dir).get_template(TEMPLATE).render(**context)
