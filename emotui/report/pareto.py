"""The Pareto front of accuracy against a cost (trainable parameters, training time)."""

from __future__ import annotations

from typing import Sequence


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats: none has a cost as low or lower AND an
    accuracy as high or higher, with one of the two strictly better. Ordered by cost.

    ``points`` are (cost, accuracy); lower cost and higher accuracy are better. Identical
    points are all on the front (neither beats the other).
    """
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front: list[int] = []
    best_accuracy = float("-inf")
    best_cost = None
    for i in order:
        cost, accuracy = points[i]
        if accuracy > best_accuracy:
            front.append(i)
            best_accuracy, best_cost = accuracy, cost
        elif accuracy == best_accuracy and cost == best_cost:
            front.append(i)  # a tie with the point just kept: equally good
    return front
