"""SVG text as the formats embed it."""

from __future__ import annotations

import re

_PROLOG = re.compile(r"^\s*<\?xml[^>]*\?>\s*(<!DOCTYPE[^>]*>\s*)?", re.S)
_METADATA = re.compile(r"<metadata>.*?</metadata>\s*", re.S)
# Where matplotlib's SVG names an element (glyphs, markers, clip paths) and refers to one.
_ID_OR_REFERENCE = re.compile(r'(\bid="|href="#|url\(#)([^")]+)')


def inline_svg(svg: str, prefix: str) -> str:
    """The <svg> element alone, for inlining into HTML: no XML prolog, no DOCTYPE (it names an
    external DTD), no RDF metadata, and its ids prefixed so that several figures on one page
    never share an id (matplotlib names each font glyph the same in every figure)."""
    svg = _METADATA.sub("", _PROLOG.sub("", svg, count=1), count=1).strip()
    return _ID_OR_REFERENCE.sub(lambda m: f"{m.group(1)}{prefix}-{m.group(2)}", svg)
