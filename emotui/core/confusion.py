"""Reading a confusion matrix of any size: the most confused pairs, the most confused labels.

A matrix of a few classes is shown whole, a count per cell. With a thousand classes a million
cells say nothing one by one (and cost seconds to lay out, gigabytes to draw with a label
each): above ``WHOLE_MATRIX_MAX`` classes, readers show the pairs of labels most often
confused and the block of the labels involved in most confusions. Pure Python, no numpy: the
TUI uses it, off its UI thread.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass
from typing import Any, Sequence

# Up to this many classes, the whole matrix is shown with a number in each cell.
WHOLE_MATRIX_MAX = 30
# Pairs listed and labels in the block shown instead above it.
TOP_PAIRS = 20
BLOCK_LABELS = 12


@dataclass(frozen=True)
class Confusion:
    """One off-diagonal cell: ``count`` examples of ``true`` predicted as ``predicted``."""

    true: str
    predicted: str
    count: int
    share: float  # of the true label's examples


def labels_for(matrix: Sequence[Sequence[Any]], names: Sequence[Any] | None) -> list[str]:
    """The matrix's labels: ``names`` when they fit, else the class indices."""
    if names and len(names) == len(matrix):
        return [str(n) for n in names]
    return [str(i) for i in range(len(matrix))]


def _count(value: Any) -> float:
    """A cell as a count: anything but a finite number (a damaged file) counts as none."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return value
    return 0


def _square(matrix: Sequence[Sequence[Any]]) -> list[list[Any]]:
    """The matrix as ``n`` rows of ``n`` counts. A row of plain integers (what emotui writes) is
    taken as it is, checked at C speed (``map(type, row)``); any other row is read cell by cell
    (``_count``), cut or padded to ``n``. Everything after works on whole rows with built-ins
    (``sum``, ``max``, ``zip``): a thousand classes are a million cells, a second in a Python
    loop, a few hundredths this way."""
    n = len(matrix)
    rows = []
    for row in matrix:
        if isinstance(row, list) and len(row) == n and set(map(type, row)) <= {int}:
            rows.append(row)
        else:
            cells = [_count(v) for v in (row if isinstance(row, (list, tuple)) else ())][:n]
            rows.append(cells + [0] * (n - len(cells)))
    return rows


def most_confused(matrix: Sequence[Sequence[Any]], names: Sequence[Any] | None = None,
                  k: int = TOP_PAIRS) -> list[Confusion]:
    """The ``k`` largest off-diagonal cells, largest first (ties: by true, then predicted)."""
    labels = labels_for(matrix, names)
    rows = _square(matrix)
    top: list[tuple[Any, int, int]] = []  # (count, true, predicted), best first
    for r, row in enumerate(rows):
        # Rows come in order, so a later cell only enters the list with a larger count than
        # its last one: a row whose largest confusion is no larger is skipped whole.
        largest = max(max(row[:r], default=0), max(row[r + 1:], default=0))
        if largest <= 0 or (len(top) == k and largest <= top[-1][0]):
            continue
        # The row's k largest off the diagonal (stable: among equal counts the lower column).
        cells = [(row[c], r, c) for c in heapq.nlargest(k + 1, range(len(row)),
                                                         key=row.__getitem__)
                 if c != r and row[c] > 0][:k]
        top = sorted(top + cells, key=lambda cell: (-cell[0], cell[1], cell[2]))[:k]
    return [Confusion(labels[r], labels[c], int(count), count / (sum(rows[r]) or 1))
            for count, r, c in top]


def confused_labels(matrix: Sequence[Sequence[Any]], k: int = BLOCK_LABELS) -> list[int]:
    """Indices of the ``k`` labels with the most examples confused with another (as true or as
    predicted label), in index order: the block of the matrix worth showing."""
    rows = _square(matrix)
    n = len(rows)
    diagonal = [rows[i][i] for i in range(n)]
    # Confused as the true label (its row) plus as the predicted one (its column).
    errors = [sum(row) - d for row, d in zip(rows, diagonal)]
    for c, column in enumerate(zip(*rows)):
        errors[c] += sum(column) - diagonal[c]
    chosen = heapq.nlargest(k, range(n), key=lambda i: (errors[i], -i))
    return sorted(chosen)


def block(matrix: Sequence[Sequence[Any]], indices: Sequence[int]) -> list[list[Any]]:
    """The sub-matrix of the rows and columns ``indices``."""
    return [[matrix[r][c] if c < len(matrix[r]) else 0 for c in indices] for r in indices]
