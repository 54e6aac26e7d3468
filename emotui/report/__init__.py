"""The study's report, written by emotui itself: `emotui report`.

One pipeline, one job per module:

    gather      runs from the local store, W&B offline files and a W&B project (+ sweeps)
    select      configurations (runs that differ only by seed), what tells them apart,
                mean ± std, the best per method picked on validation; runs by model and data
    pareto      the Pareto front of accuracy against a cost
    tables      the tables (cells formatted by formatting.py, methods named by labels.py)
    figures     the figures as SVG (matplotlib, imported only there and in cost_figure)
    cost_figure accuracy against a cost: one size, the front numbered without overlaps
    document    the report as format-neutral blocks (blocks.py), a section per model and data
    render_*    Typst, Markdown, self-contained HTML (svg.py inlines figures)
    output      files written atomically; Typst compiled to PDF

Sits between the CLI/TUI and the sweep layer: it reads run directories, sweep records and W&B
rows, never torch.
"""
