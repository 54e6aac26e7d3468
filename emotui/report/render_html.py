"""The report as one self-contained HTML file: styles and figures (inline SVG) inside it, no
scripts, nothing fetched from anywhere."""

from __future__ import annotations

from html import escape

from emotui.report.blocks import Caution, Figure, Heading, Paragraph, Rendered, Report, Table
from emotui.report.svg import inline_svg

STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; max-width: 1100px; margin: 2em auto;
       padding: 0 1em; color: #222; }
h1 { margin-bottom: 0; } .subtitle { color: #666; margin-top: .2em; }
table { border-collapse: collapse; margin: .6em 0 .2em; font-size: 13px; }
th, td { border-bottom: 1px solid #ddd; padding: .25em .6em; vertical-align: top; }
th { text-align: left; border-bottom: 2px solid #999; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.marked td { font-weight: 600; background: #eef6ee; }
.caption { color: #555; font-size: 12.5px; margin: .2em 0 1.2em; }
.warning { background: #fff4d6; border-left: 4px solid #e0a800; padding: .5em .8em;
           margin: .8em 0; }
figure { margin: 1em 0; } figure svg { max-width: 100%; height: auto; }
"""


def _table(table: Table) -> str:
    def cls(i: int) -> str:
        return ' class="num"' if i < len(table.numeric) and table.numeric[i] else ""

    head = "".join(f"<th{cls(i)}>{escape(c)}</th>" for i, c in enumerate(table.columns))
    rows = []
    for r, row in enumerate(table.rows):
        marked = ' class="marked"' if r < len(table.marked) and table.marked[r] else ""
        cells = "".join(f"<td{cls(i)}>{escape(c)}</td>" for i, c in enumerate(row))
        rows.append(f"<tr{marked}>{cells}</tr>")
    caption = f'<p class="caption">{escape(table.caption)}</p>' if table.caption else ""
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>{caption}"


def render(report: Report) -> Rendered:
    parts = [f"<h1>{escape(report.title)}</h1>",
             f'<p class="subtitle">{escape(report.subtitle)}</p>']
    for block in report.blocks:
        if isinstance(block, Heading):
            level = min(block.level + 1, 6)
            parts.append(f"<h{level}>{escape(block.text)}</h{level}>")
        elif isinstance(block, Paragraph):
            parts.append(f"<p>{escape(block.text)}</p>")
        elif isinstance(block, Caution):
            parts.append(f'<p class="warning"><b>Warning:</b> {escape(block.text)}</p>')
        elif isinstance(block, Table):
            parts.append(_table(block))
        elif isinstance(block, Figure):
            parts.append(f"<figure>{inline_svg(block.svg, block.name)}"
                         f'<figcaption class="caption">{escape(block.caption)}</figcaption>'
                         "</figure>")
    body = "\n".join(parts)
    return Rendered(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<title>{escape(report.title)}</title>\n<style>{STYLE}</style>\n</head>\n"
        f"<body>\n{body}\n</body>\n</html>\n")
