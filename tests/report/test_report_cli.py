"""`emotui report` end to end: PDF, Markdown with its figures, one self-contained HTML file,
sweep tables, and one-line refusals that leave nothing behind."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from emotui.cli.main import main


def _run(capsys, *argv):
    code = main(["report", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_typst_report_compiles_to_a_pdf(report_runs, tmp_path, capsys):
    out = tmp_path / "out" / "study.pdf"
    out.parent.mkdir()
    code, stdout, err = _run(capsys, "--runs-dir", str(report_runs), "--pdf", "--out", str(out))
    assert code == 0, err
    assert out.read_bytes().startswith(b"%PDF")
    assert "picked on validation" in stdout
    assert sorted(p.name for p in out.parent.iterdir()) == ["study.pdf"]  # no temp files left


def test_typst_source_keeps_its_figures_beside_it(report_runs, tmp_path, capsys):
    out = tmp_path / "study.typ"
    code, _, err = _run(capsys, "--runs-dir", str(report_runs), "--out", str(out), "--pdf")
    assert code == 0, err
    source = out.read_text()
    assert 'image("study_figures/accuracy_vs_params.svg"' in source
    assert (tmp_path / "study_figures" / "accuracy_vs_params.svg").is_file()
    assert (tmp_path / "study.pdf").read_bytes().startswith(b"%PDF")


def test_markdown_report_with_svg_figures_and_warnings(report_runs, tmp_path, capsys):
    out = tmp_path / "README.md"
    code, _, err = _run(capsys, "--runs-dir", str(report_runs), "--format", "markdown",
                        "--out", str(out))
    assert code == 0, err
    text = out.read_text()
    figures = tmp_path / "README_figures"
    for name in ("accuracy_vs_params", "accuracy_vs_time", "eval_curves", "confusion"):
        assert f"](README_figures/{name}.svg)" in text
        assert (figures / f"{name}.svg").read_text().lstrip().startswith("<?xml")
    # The pick, its seeds, and the warning where something is drawn or sorted by test.
    assert "| LoRA | lr=0.001 | 3 | 91.00 ± 1.00 | 90.67 ± 2.08 |" in text
    assert "Pareto fronts are drawn on test accuracy" in text
    assert "sorted by test/accuracy, a test metric" in text
    # Sweep tables: sorted by the sweep's metric, the collapsed trial marked.
    lora_sweep = text[text.index("### Sweep sweep-lora-grid"):]
    rows = [line for line in lora_sweep.splitlines() if line.startswith("| ")][2:5]
    assert [r.split(" | ")[1].strip("*") for r in rows] == ["251201-100000-lora-aaa1",
                                                 "251201-100300-lora-bbb1",
                                                 "251201-100500-lora-ccc1"]
    assert "COLLAPSED" in rows[2]


def test_html_report_is_one_self_contained_file(report_runs, tmp_path, capsys):
    out = tmp_path / "html" / "report.html"
    out.parent.mkdir()
    code, _, err = _run(capsys, "--runs-dir", str(report_runs), "--format", "html",
                        "--out", str(out))
    assert code == 0, err
    assert [p.name for p in out.parent.iterdir()] == ["report.html"]
    html = out.read_text()
    assert html.count("<svg") == 4
    assert not re.search(r"<(script|link|img|iframe|object|embed)\b", html, re.I)
    assert not re.search(r"\bsrc\s*=", html, re.I)
    assert not re.search(r'href\s*=\s*"(?!#)', html, re.I)  # only links inside the page
    assert not re.search(r"url\((?!#)", html)
    assert "<!DOCTYPE svg" not in html  # the SVG DTD is an external reference
    ids = re.findall(r'\bid="([^"]+)"', html)
    assert len(ids) == len(set(ids))  # four figures, no id shared between them


def test_named_runs_and_sweeps_select_the_report(report_runs, tmp_path, capsys):
    out = tmp_path / "r.md"
    code, stdout, err = _run(capsys, "--runs-dir", str(report_runs), "sweep-lora-grid",
                             "ptext-fff1", "--format", "markdown", "--out", str(out))
    assert code == 0, err
    assert "report of 4 runs, 2 methods" in stdout
    text = out.read_text()
    assert "### Sweep sweep-lora-grid" in text and "sweep-full-test" not in text


@pytest.mark.parametrize("argv, message", [
    (["no-such-run"], "no run 'no-such-run' in"),
    (["no-such-run"], "as a sweep: no sweep 'no-such-run'"),
    (["251201-110000-lora-ggg1"], "no finished runs to report"),
    (["--out", "{tmp}/missing/r.typ"], "does not exist"),
    (["--out", "{tmp}"], "is a folder"),
    (["--format", "html", "--pdf"], "--pdf compiles the Typst report"),
])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(report_runs, tmp_path, capsys, argv,
                                                        message, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    code, _, err = _run(capsys, "--runs-dir", str(report_runs), *argv)
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert list(work.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs", "work"]


def test_a_failing_compile_leaves_an_earlier_report_untouched(report_runs, tmp_path, capsys,
                                                              monkeypatch):
    from emotui.report import output

    out = tmp_path / "r.pdf"
    out.write_bytes(b"%PDF earlier")

    def broken(source, pdf):
        raise RuntimeError("Typst could not compile the report: boom")

    monkeypatch.setattr(output, "compile_pdf", broken)
    assert main(["report", "--runs-dir", str(report_runs), "--pdf", "--out", str(out)]) == 1
    assert out.read_bytes() == b"%PDF earlier"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.pdf", "runs"]


def test_report_command_does_not_load_plotting_or_typst_until_it_runs():
    code = ("import sys\nfrom emotui.cli.main import build_parser\n"
            "build_parser().parse_args(['report'])\n"
            "print(sorted(m for m in ('matplotlib', 'typst') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_compare_warns_when_it_sorts_by_a_test_metric(report_runs, capsys):
    assert main(["compare", "--runs-dir", str(report_runs), "--sort=-test_accuracy",
                 "--format", "csv"]) == 0
    err = capsys.readouterr().err
    assert "warning: sorted by test_accuracy, a test metric" in err
    assert main(["compare", "--runs-dir", str(report_runs), "--sort=-eval_accuracy",
                 "--format", "csv"]) == 0
    assert "warning" not in capsys.readouterr().err
