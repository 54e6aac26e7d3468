"""The report stays readable whatever the runs (awkward_store.py): figures of one fixed size
whose labels never touch, configuration cells of a few settings, one section per model and
dataset. Sizes and label boxes are measured in the SVG files the report embeds."""

from __future__ import annotations

import itertools

import pytest
from awkward_store import MODEL, NO_CONFIG_RUN, ODD_RUN, OTHER_MODEL, build_awkward_store
from svg_boxes import SvgBoxes

from emotui.report.blocks import Figure, Heading, Table
from emotui.report.document import build_report
from emotui.report.gather import gather
from emotui.report.output import write_report
from emotui.report.select import NOTHING_RECORDED, SHOWN_SETTINGS

FIGURE_SIZE = ("460.8pt", "273.6pt")  # figures.WIDTH_IN x HEIGHT_IN at 72 pt per inch


@pytest.fixture(scope="module")
def awkward(tmp_path_factory):
    store = build_awkward_store(tmp_path_factory.mktemp("awkward") / "runs")
    return store, build_report(gather(store, []))


def _pareto_figures(report):
    return [b for b in report.blocks if isinstance(b, Figure)
            and b.kind in ("accuracy_vs_params", "accuracy_vs_time")]


def test_every_figure_keeps_its_size(awkward):
    _, report = awkward
    figures = [b for b in report.blocks if isinstance(b, Figure) and b.kind != "confusion"]
    assert len(_pareto_figures(report)) >= 4  # two per section that measured costs
    for figure in figures:
        assert SvgBoxes(figure.svg).size == FIGURE_SIZE, figure.name


def test_pareto_labels_never_touch_each_other_the_legend_or_the_axes_edge(awkward):
    _, report = awkward
    for figure in _pareto_figures(report):
        svg = SvgBoxes(figure.svg)
        axes, legend = svg.box("axes"), svg.box("legend")
        labels = [svg.box(i) for i in svg.ids("front-label-")]
        assert labels, figure.name
        # the key table after the figure names exactly the numbered points
        key = report.blocks[report.blocks.index(figure) + 1]
        assert isinstance(key, Table) and [r[0] for r in key.rows] == \
            [str(n) for n in range(1, len(labels) + 1)]
        assert not legend.overlaps(axes), figure.name  # the legend sits above the axes
        for n, box in enumerate(labels, 1):
            assert box.inside(axes), (figure.name, n)
        for (a, box_a), (b, box_b) in itertools.combinations(enumerate(labels, 1), 2):
            assert not box_a.overlaps(box_b), (figure.name, a, b)
        # A number set apart from its point in the crowded LoRA grid has a line to it, which
        # starts at the number (its text box, a little larger than the digit's ink measured
        # here: the font's descent below it).
        leaders = svg.ids("front-leader-")
        if figure.name.endswith("-1"):
            assert leaders, figure.name
        for leader in leaders:
            number = int(leader.rsplit("-", 1)[1])
            line, label = svg.box(leader), labels[number - 1]
            assert _gap(line, label) < 6, (figure.name, leader)
        ticks = [svg.box(i) for i in svg.ids("xtick-label-")]
        assert len(ticks) >= 2, figure.name
        for box_a, box_b in itertools.combinations(ticks, 2):
            assert not box_a.overlaps(box_b), figure.name  # no "3×10⁴4×10⁴"
        assert len(figure.caption) < 250  # the front is named in the key table, not here


def _gap(a, b) -> float:
    """The distance between two boxes (0 where they meet)."""
    dx = max(a.x0 - b.x1, b.x0 - a.x1, 0.0)
    dy = max(a.y0 - b.y1, b.y0 - a.y1, 0.0)
    return (dx * dx + dy * dy) ** 0.5


def test_one_configuration_draws_no_front_and_every_confusion_figure_fits_a_page(awkward):
    """A section of one configuration has nothing to trade off: its cost table says it all.
    Seven methods' confusion matrices, three a row, fit the page's text width and height."""
    _, report = awkward
    names = [b.name for b in _pareto_figures(report)]
    assert sorted(names) == ["accuracy_vs_params-1", "accuracy_vs_params-2",
                             "accuracy_vs_time-1", "accuracy_vs_time-2"]
    text_width_pt, text_height_pt = 504, 740  # A4 less the Typst preamble's margins
    for figure in (b for b in report.blocks if isinstance(b, Figure) and b.kind == "confusion"):
        width, height = (float(v.removesuffix("pt")) for v in SvgBoxes(figure.svg).size)
        assert width <= text_width_pt and height <= 0.85 * text_height_pt, figure.name


def test_a_dense_front_on_a_narrow_log_axis():
    """Twenty-five configurations on the front within one and a half decades: every number
    placed apart, the axis labelled at 1-1.5-2-3-5-7 without touching."""
    from emotui.report.cost_figure import Point, accuracy_vs_cost
    from emotui.report.pareto import pareto_front

    points = [Point(x=20_000 * 1.6 ** (i / 4), y=0.5 + 0.016 * i, yerr=None,
                    method=("lora", "full", "ia3")[i % 3]) for i in range(25)]
    front = pareto_front([(p.x, p.y) for p in points])
    svg = SvgBoxes(accuracy_vs_cost(points, front, xlabel="trainable parameters", log_x=True,
                                    name="dense"))
    assert svg.size == FIGURE_SIZE
    labels = [svg.box(i) for i in svg.ids("front-label-")]
    assert len(labels) == len(front) == 25
    for box_a, box_b in itertools.combinations(labels, 2):
        assert not box_a.overlaps(box_b)
    ticks = [svg.box(i) for i in svg.ids("xtick-label-")]
    assert len(ticks) >= 4
    for box_a, box_b in itertools.combinations(ticks, 2):
        assert not box_a.overlaps(box_b)


def test_configuration_cells_show_only_what_tells_configurations_apart(awkward):
    _, report = awkward
    tables = [b for b in report.blocks if isinstance(b, Table) and "Configuration" in b.columns]
    cells = [row[t.columns.index("Configuration")] for t in tables for row in t.rows]
    for cell in cells:
        assert cell.count("=") <= SHOWN_SETTINGS, cell
    # The grid's cells name its two swept settings and nothing that only the edited run changed.
    lora_grid = [c for c in cells if c.startswith("lr=0.001, r=")]
    assert lora_grid and all(c.count("=") == 2 for c in lora_grid)
    # The edited run: its first settings and how many more, then all of them in a paragraph.
    odd = next(c for c in cells if "more" in c)
    assert odd.startswith("lr=1.003") and odd.endswith("more")
    assert any(ODD_RUN in getattr(b, "text", "") and "weight_decay=" in getattr(b, "text", "")
               for b in report.blocks)


def test_each_model_and_dataset_is_a_section_of_its_own(awkward):
    store, report = awkward
    headings = [b.text for b in report.blocks if isinstance(b, Heading) and b.level == 1]
    assert f"{MODEL} on dair-ai/emotion" in headings
    assert f"{OTHER_MODEL} on dair-ai/emotion" in headings
    assert f"{MODEL} on google-research-datasets/go_emotions (simplified)" in headings
    assert NOTHING_RECORDED in headings
    # Runs of one section only in each table of runs and each front.
    sections = report.data["sections"]
    owner = {r.run_id: s.label for s in sections for c in s.configs for r in c.runs}
    assert owner[NO_CONFIG_RUN] == NOTHING_RECORDED
    for block in report.blocks:
        if isinstance(block, Table) and "Runs" in block.columns:
            ids = {i.strip() for row in block.rows
                   for i in row[block.columns.index("Runs")].split(",")}
            assert len({owner[i] for i in ids}) == 1, ids
    # A run without a config is a configuration of its own, described as such.
    no_config = next(s for s in sections if s.label == NOTHING_RECORDED)
    assert [len(c.runs) for c in no_config.configs] == [1]


def test_the_awkward_report_compiles_to_a_pdf(awkward, tmp_path):
    _, report = awkward
    written = write_report(report, "typst", tmp_path / "report.pdf", pdf=True)
    assert written[0].read_bytes().startswith(b"%PDF")
