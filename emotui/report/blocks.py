"""The report as format-neutral blocks; each renderer turns the same blocks into its format."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Union


@dataclass
class Heading:
    text: str
    level: int = 1


@dataclass
class Paragraph:
    text: str


@dataclass
class Caution:
    """A line the reader must not miss: something sorted or picked by the test split, a source
    that could not be read."""

    text: str


@dataclass
class Table:
    columns: list[str]
    rows: list[list[str]]
    numeric: list[bool]  # right-aligned columns
    caption: str = ""
    marked: list[bool] = field(default_factory=list)  # rows shown emphasised (the picked ones)


@dataclass
class Figure:
    name: str  # file stem where a format keeps figures as files (unique in a report)
    svg: str
    caption: str
    kind: str = ""  # which figure it is (accuracy_vs_params, eval_curves, ...); default: name


Block = Union[Heading, Paragraph, Caution, Table, Figure]


@dataclass
class Report:
    title: str
    subtitle: str
    blocks: list[Block]
    # The numbers behind the tables, for programs (and tests): method -> best configuration, ...
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def figures(self) -> list[Figure]:
        return [b for b in self.blocks if isinstance(b, Figure)]


@dataclass
class Rendered:
    """A rendered report: the document's text and the files it refers to, by relative path."""

    document: str
    files: dict[str, str] = field(default_factory=dict)
