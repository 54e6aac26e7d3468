"""Writing a report: every file is made in a temporary folder beside the destination and moved
into place only when all of it (the PDF included) succeeded, so a failure leaves nothing
half-written and an earlier report untouched."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from emotui.core.errors import ConfigError
from emotui.report.blocks import Rendered, Report

FORMATS = ("typst", "markdown", "html")
SUFFIXES = {"typst": ".typ", "markdown": ".md", "html": ".html"}


def default_out(fmt: str, pdf: bool) -> Path:
    return Path("report.pdf" if pdf else f"report{SUFFIXES[fmt]}")


def figure_dir_name(document: Path) -> str:
    """Where figures go beside a document: report.md -> report_figures/."""
    return f"{document.stem}_figures"


def render(report: Report, fmt: str, document: Path) -> Rendered:
    # lazy: keeps `emotui --help` fast (the three renderers: 4 ms)
    if fmt == "markdown":
        from emotui.report.render_markdown import render as render_markdown

        return render_markdown(report, figure_dir_name(document))
    if fmt == "html":
        from emotui.report.render_html import render as render_html

        return render_html(report)
    from emotui.report.render_typst import render as render_typst

    return render_typst(report, figure_dir_name(document))


def check_request(fmt: str, pdf: bool, out: Path) -> Path:
    """The absolute --out path, or a one-line error when the request cannot be written."""
    if pdf and fmt != "typst":
        raise ConfigError(f"--pdf compiles the Typst report; drop --format {fmt} (or --pdf)")
    out = Path(out).expanduser().absolute()
    if out.is_dir():
        raise ConfigError(f"--out {out} is a folder; give a file name such as {out / 'report.pdf'}")
    parent = out.parent
    if not parent.is_dir():
        raise ConfigError(f"--out {out}: the folder {parent} does not exist; create it or "
                          "choose another path")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(f"--out {out}: the folder {parent} is not writable; choose another path")
    return out


def compile_pdf(source: Path, pdf: Path) -> None:
    import typst

    try:
        typst.compile(str(source), output=str(pdf), root=str(source.parent), format="pdf")
    except typst.TypstError as exc:  # emotui wrote the source: a bug, not bad input
        raise RuntimeError(f"Typst could not compile the report: {exc.message}") from None


def write_report(report: Report, fmt: str, out: Path, *, pdf: bool = False) -> list[Path]:
    """Write the report; returns the paths written (documents, then figure folders).

    With ``pdf`` the Typst source is compiled; the PDF goes to ``out``, except that an ``out``
    ending in .typ keeps the source and its figures there and puts the PDF beside it.
    """
    out = check_request(fmt, pdf, out)
    keep_source = not pdf or out.suffix == ".typ"
    source = out if keep_source else out.with_suffix(".typ")
    rendered = render(report, fmt, source)
    try:
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    except OSError as exc:
        raise ConfigError(f"--out {out}: cannot write there ({exc.strerror}); choose another "
                          "path") from None
    try:
        (staging / source.name).write_text(rendered.document, encoding="utf-8")
        for relative, text in rendered.files.items():
            path = staging / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        documents = [source] if keep_source else []
        if pdf:
            documents.append(out.with_suffix(".pdf"))
            compile_pdf(staging / source.name, staging / documents[-1].name)
        folders = sorted({Path(relative).parts[0] for relative in rendered.files}) \
            if keep_source else []
        for folder in folders:
            _replace_folder(staging / folder, out.parent / folder, staging)
        # The documents last: whoever sees the new report also finds its figures.
        for document in documents:
            os.replace(staging / document.name, document)
        return documents + [out.parent / folder for folder in folders]
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _replace_folder(new: Path, target: Path, staging: Path) -> None:
    """Put ``new`` at ``target``; an older folder there is moved aside and removed."""
    if target.exists():
        os.replace(target, staging / f".old-{target.name}")
    os.replace(new, target)
