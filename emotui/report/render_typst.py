"""The report as Typst source (compiled to PDF by output.py); figures as SVG files beside it.

Every text goes in as a Typst string literal (``#"..."``), so nothing in a run id, a prompt
text or a caption is read as markup.
"""

from __future__ import annotations

import re

from emotui.core.export import typst_string
from emotui.report.blocks import Caution, Figure, Heading, Paragraph, Rendered, Report, Table

# The width between the page's margins (A4, 1.6 cm each side), in points. A figure is shown at
# its own size (matplotlib's 8 pt text is 8 pt on the page, in every figure); one wider than this
# is scaled to fit.
TEXT_WIDTH_PT = 595.28 - 2 * 1.6 * 72 / 2.54
_SVG_WIDTH = re.compile(r'<svg[^>]*?\swidth="([\d.]+)pt"')

PREAMBLE = """\
#set document(title: {title})
#set page(paper: "a4", margin: (x: 1.6cm, y: 1.8cm), numbering: "1")
#set text(size: 9.5pt)
#set par(justify: false)
#set table(stroke: (x, y) => if y == 0 {{ (bottom: 0.8pt) }} else {{ (bottom: 0.3pt + luma(200)) }},
           inset: (x: 4pt, y: 3pt))
#show table: set text(size: 7.5pt)
#show figure.caption: set text(size: 8pt)
"""


def _text(text: str) -> str:
    return "#" + typst_string(text)


def _table(table: Table) -> str:
    aligns = ", ".join("right" if n else "left" for n in table.numeric)
    lines = ["#figure(", "  table(", f"    columns: {len(table.columns)},",
             f"    align: ({aligns},),",
             "    table.header(" + ", ".join(f"[*{_text(c)}*]" for c in table.columns) + "),"]
    for r, row in enumerate(table.rows):
        marked = r < len(table.marked) and table.marked[r]
        cells = (f"[*{_text(c)}*]" if marked and c else f"[{_text(c)}]" for c in row)
        lines.append("    " + ", ".join(cells) + ",")
    lines.append("  ),")
    if table.caption:
        lines.append(f"  caption: [{_text(table.caption)}],")
    lines += ["  kind: table,", ")"]
    return "\n".join(lines)


def _width(svg: str) -> str:
    """Nothing (the figure's own size) unless the figure is wider than the text."""
    match = _SVG_WIDTH.search(svg)
    return ", width: 100%" if match is None or float(match.group(1)) > TEXT_WIDTH_PT else ""


def render(report: Report, figure_dir: str) -> Rendered:
    parts = [PREAMBLE.format(title=typst_string(report.title)),
             f"= {_text(report.title)}", "", f"_{_text(report.subtitle)}_", ""]
    files: dict[str, str] = {}
    for block in report.blocks:
        if isinstance(block, Heading):
            parts += ["=" * (block.level + 1) + " " + _text(block.text), ""]
        elif isinstance(block, Paragraph):
            parts += [_text(block.text), ""]
        elif isinstance(block, Caution):
            parts += [f"#block(fill: rgb(\"#fff4d6\"), stroke: (left: 2pt + rgb(\"#e0a800\")), "
                      f"inset: 6pt, width: 100%)[*Warning:* {_text(block.text)}]", ""]
        elif isinstance(block, Table):
            parts += [_table(block), ""]
        elif isinstance(block, Figure):
            path = f"{figure_dir}/{block.name}.svg"
            files[path] = block.svg
            parts += [f"#figure(image({typst_string(path)}{_width(block.svg)}), "
                      f"caption: [{_text(block.caption)}])", ""]
    return Rendered("\n".join(parts).rstrip() + "\n", files)
