"""The detail screen's Results tab, laid out on the worker's thread (a ``ResultsView``).

With a few classes the tab shows the per-class scores and the whole confusion matrix, a count
per cell. Above ``core.confusion.WHOLE_MATRIX_MAX`` classes (a thousand classes: a million
cells, seconds of layout on the UI thread) it shows the per-class scores, the pairs most often
confused and the block of the matrix among the most confused labels.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rich.text import Text

from emotui.core import confusion as cm
from emotui.core.vocabulary import ResultKey
from emotui.tui import formatting as fmt


@dataclass
class ResultsView:
    """What the Results tab shows, every cell ready to add."""

    note: str
    per_class: list[tuple[Any, ...]] = field(default_factory=list)
    pairs_title: str = ""
    pairs: list[tuple[str, ...]] = field(default_factory=list)
    confusion_title: str = ""
    labels: list[str] = field(default_factory=list)
    confusion: list[tuple[Any, ...]] = field(default_factory=list)


def results_view(results: dict[str, Any]) -> ResultsView:
    note = (f"best epoch {results.get(ResultKey.BEST_EPOCH)} · test accuracy "
            f"{fmt.percent_sign(results.get(ResultKey.TEST_ACCURACY))} · test macro-F1 "
            f"{fmt.percent_sign(results.get(ResultKey.TEST_MACRO_F1))} · trainable params "
            f"{fmt.count(results.get(ResultKey.TRAINABLE_PARAMS))} · checkpoint "
            f"{fmt.size(results.get(ResultKey.CHECKPOINT_BYTES))}"
            + ("\n[b red]collapsed: predicts (nearly) one class[/]"
               if results.get(ResultKey.COLLAPSED) else ""))
    # Scores as percentages, as every accuracy a person reads (core.units).
    per_class = [(str(name), *(fmt.percent_sign(scores.get(k)) for k in ("precision", "recall", "f1")),
                  str(scores.get("support")))
                 for name, scores in (results.get(ResultKey.PER_CLASS) or {}).items()]
    view = ResultsView(note, per_class)
    matrix = [row if isinstance(row, list) else [] for row in
              (results.get(ResultKey.CONFUSION_MATRIX) or [])]
    labels = cm.labels_for(matrix, results.get(ResultKey.LABEL_NAMES))
    if len(matrix) <= cm.WHOLE_MATRIX_MAX:
        view.confusion_title = "confusion matrix (rows: true, columns: predicted)"
        indices = list(range(len(matrix)))
    else:
        pairs = cm.most_confused(matrix, labels)
        view.pairs_title = (f"{len(matrix)} classes: the {len(pairs)} pairs most often confused "
                            "(true class predicted as another)")
        view.pairs = [(p.true, p.predicted, str(p.count), f"{100 * p.share:.1f}%")
                      for p in pairs]
        indices = cm.confused_labels(matrix)
        view.confusion_title = (f"confusion among the {len(indices)} most confused of "
                                f"{len(matrix)} classes (rows: true, columns: predicted)")
    view.labels = [labels[i] for i in indices]
    for row_index, counts in zip(indices, cm.block(matrix, indices)):
        # The diagonal (correct predictions) in bold, the confusions dim.
        cells = [Text(str(c), style="bold" if i == row_index else "dim")
                 for i, c in zip(indices, counts)]
        view.confusion.append((labels[row_index], *cells))
    return view
