"""Boxes of an SVG's groups, measured in the file itself: what a reader of the figure sees.

Enough of SVG for matplotlib's output: ``<path d>`` with absolute coordinates, ``<use>`` of a
``<defs>`` path (glyphs, markers; with ``x``/``y``), and ``translate``/``scale``/``rotate``/
``matrix`` transforms. A path's box is the box of its points, control points included: never
smaller than what is drawn, so two boxes that do not meet are two shapes that do not touch.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass

SVG = "{http://www.w3.org/2000/svg}"
XLINK_HREF = "{http://www.w3.org/1999/xlink}href"
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_TRANSFORM = re.compile(r"(\w+)\s*\(([^)]*)\)")

Matrix = tuple[float, float, float, float, float, float]  # a b c d e f, as SVG's matrix()
IDENTITY: Matrix = (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)


@dataclass(frozen=True)
class Box:
    x0: float
    y0: float
    x1: float
    y1: float

    @property
    def width(self) -> float:
        return self.x1 - self.x0

    @property
    def height(self) -> float:
        return self.y1 - self.y0

    def overlaps(self, other: "Box") -> bool:
        return (min(self.x1, other.x1) > max(self.x0, other.x0)
                and min(self.y1, other.y1) > max(self.y0, other.y0))

    def inside(self, other: "Box", slack: float = 0.5) -> bool:
        return (self.x0 >= other.x0 - slack and self.y0 >= other.y0 - slack
                and self.x1 <= other.x1 + slack and self.y1 <= other.y1 + slack)


def _multiply(m: Matrix, n: Matrix) -> Matrix:
    a, b, c, d, e, f = m
    a2, b2, c2, d2, e2, f2 = n
    return (a * a2 + c * b2, b * a2 + d * b2, a * c2 + c * d2, b * c2 + d * d2,
            a * e2 + c * f2 + e, b * e2 + d * f2 + f)


def parse_transform(text: str | None) -> Matrix:
    matrix = IDENTITY
    for name, args in _TRANSFORM.findall(text or ""):
        values = [float(v) for v in _NUMBER.findall(args)]
        if name == "translate":
            step: Matrix = (1, 0, 0, 1, values[0], values[1] if len(values) > 1 else 0.0)
        elif name == "scale":
            sy = values[1] if len(values) > 1 else values[0]
            step = (values[0], 0, 0, sy, 0, 0)
        elif name == "rotate":
            angle = math.radians(values[0])
            step = (math.cos(angle), math.sin(angle), -math.sin(angle), math.cos(angle), 0, 0)
        elif name == "matrix":
            step = tuple(values)  # type: ignore[assignment]
        else:
            raise ValueError(f"transform {name}() is not handled")
        matrix = _multiply(matrix, step)
    return matrix


def _apply(m: Matrix, x: float, y: float) -> tuple[float, float]:
    a, b, c, d, e, f = m
    return a * x + c * y + e, b * x + d * y + f


def _path_points(d: str) -> list[tuple[float, float]]:
    numbers = [float(v) for v in _NUMBER.findall(d)]
    return list(zip(numbers[0::2], numbers[1::2]))


class SvgBoxes:
    """The boxes of an SVG document's groups by id."""

    def __init__(self, svg: str):
        self.root = ET.fromstring(svg)
        self.parents = {child: parent for parent in self.root.iter() for child in parent}
        self.defs = {el.get("id"): el for el in self.root.iter(f"{SVG}path") if el.get("id")}
        self.by_id = {el.get("id"): el for el in self.root.iter() if el.get("id")}

    @property
    def size(self) -> tuple[str | None, str | None]:
        """The width and height attributes ("460.8pt")."""
        return self.root.get("width"), self.root.get("height")

    def ids(self, prefix: str) -> list[str]:
        return sorted((i for i in self.by_id if i.startswith(prefix)),
                      key=lambda i: [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", i)])

    def _inherited(self, element: ET.Element) -> Matrix:
        chain = []
        node = self.parents.get(element)
        while node is not None:
            chain.append(parse_transform(node.get("transform")))
            node = self.parents.get(node)
        matrix = IDENTITY
        for step in reversed(chain):
            matrix = _multiply(matrix, step)
        return matrix

    def box(self, element_id: str) -> Box:
        """The box of everything the element draws, in the SVG's coordinates."""
        element = self.by_id[element_id]
        points: list[tuple[float, float]] = []
        self._collect(element, _multiply(self._inherited(element),
                                         parse_transform(element.get("transform"))), points)
        if not points:
            raise ValueError(f"{element_id} draws nothing")
        xs, ys = zip(*points)
        return Box(min(xs), min(ys), max(xs), max(ys))

    def _collect(self, element: ET.Element, matrix: Matrix,
                 points: list[tuple[float, float]]) -> None:
        tag = element.tag.replace(SVG, "")
        if tag == "defs":
            return
        if tag == "path" and element.get("d"):
            points += [_apply(matrix, x, y) for x, y in _path_points(element.get("d", ""))]
        elif tag == "use":
            target = self.defs.get((element.get(XLINK_HREF) or element.get("href") or "")[1:])
            if target is not None:
                at = (1, 0, 0, 1, float(element.get("x", 0)), float(element.get("y", 0)))
                used = _multiply(_multiply(matrix, parse_transform(element.get("transform"))), at)
                used = _multiply(used, parse_transform(target.get("transform")))
                points += [_apply(used, x, y) for x, y in _path_points(target.get("d", ""))]
        for child in element:
            self._collect(child, _multiply(matrix, parse_transform(child.get("transform")))
                          if child.tag.replace(SVG, "") != "use" else matrix, points)
