"""The report as Markdown (for a README): tables inline, figures as SVG files beside it."""

from __future__ import annotations

from emotui.report.blocks import Caution, Figure, Heading, Paragraph, Rendered, Report, Table


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("\\", "\\\\").replace("|", "\\|")


def _table(table: Table) -> list[str]:
    lines = ["| " + " | ".join(_cell(c) for c in table.columns) + " |",
             "| " + " | ".join("---:" if n else "---" for n in table.numeric) + " |"]
    for i, row in enumerate(table.rows):
        marked = i < len(table.marked) and table.marked[i]
        cells = [f"**{_cell(c)}**" if marked and c else _cell(c) for c in row]
        lines.append("| " + " | ".join(cells) + " |")
    if table.caption:
        lines += ["", f"*{table.caption}*"]
    return lines


def render(report: Report, figure_dir: str) -> Rendered:
    """``figure_dir``: the folder, relative to the Markdown file, that holds the figures."""
    lines = [f"# {report.title}", "", f"*{report.subtitle}*", ""]
    files: dict[str, str] = {}
    for block in report.blocks:
        if isinstance(block, Heading):
            lines += ["#" * (block.level + 1) + " " + block.text, ""]
        elif isinstance(block, Paragraph):
            lines += [block.text, ""]
        elif isinstance(block, Caution):
            lines += [f"> **Warning:** {block.text}", ""]
        elif isinstance(block, Table):
            lines += _table(block) + [""]
        elif isinstance(block, Figure):
            path = f"{figure_dir}/{block.name}.svg"
            files[path] = block.svg
            lines += [f"![{block.caption}]({path})", "", f"*{block.caption}*", ""]
    return Rendered("\n".join(lines).rstrip() + "\n", files)
