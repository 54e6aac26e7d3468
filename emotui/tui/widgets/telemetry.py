"""A run's system telemetry as sparklines: CPU, resident memory and, on a GPU, its use and memory.

Fed from metrics.jsonl's "system" events (the job samples every few seconds). Each gauge is a
label, the latest value and a sparkline of the recent samples, sized to the widget's width; two
gauges a line, so it reads at 80 columns. The GPU line appears only when the samples have GPU
fields (they are absent, not zero, without a GPU).
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from rich.text import Text
from textual.widgets import Static

from emotui.tui import formatting as fmt

BARS = "▁▂▃▄▅▆▇█"


def sparkline(values: Sequence[float], width: int, top: float | None = None) -> str:
    """The last ``width`` values as bars from 0 to ``top`` (their maximum when None)."""
    shown = list(values)[-width:] if width > 0 else []
    if not shown:
        return ""
    top = max(top or 0.0, max(shown)) or 1.0
    return "".join(BARS[min(len(BARS) - 1, max(0, int(v / top * (len(BARS) - 1) + 0.5)))]
                   for v in shown)


def _percent(value: float, _: dict[str, Any]) -> str:
    return f"{value:.0f}%"


def _bytes(value: float, _: dict[str, Any]) -> str:
    return fmt.size(value)


def _gpu_memory(value: float, event: dict[str, Any]) -> str:
    total = event.get("gpu_mem_total_bytes")
    return fmt.size(value) + (f"/{fmt.size(total)}" if total else "")


# (label, event key, how the latest value reads, the scale's top: None = the largest sample)
GAUGES: tuple[tuple[str, str, Callable[[float, dict[str, Any]], str], float | None], ...] = (
    ("CPU", "cpu_percent", _percent, 100.0),
    ("RSS", "rss_bytes", _bytes, None),
    ("GPU", "gpu_util", _percent, 100.0),
    ("GPU mem", "gpu_mem_used_bytes", _gpu_memory, None),
)


class TelemetryStrip(Static):
    """The latest system samples of one run, redrawn to fit its width."""

    DEFAULT_CSS = """
    TelemetryStrip {
        height: auto;
        padding: 0 1;
    }
    """

    def __init__(self, **kwargs: Any):
        super().__init__("", **kwargs)
        self.samples: list[dict[str, Any]] = []

    def show_samples(self, samples: list[dict[str, Any]]) -> None:
        self.samples = samples
        self.refresh(layout=True)

    def render(self) -> Text:
        if not self.samples:
            return Text("system: no CPU, memory or GPU samples", style="dim")
        gauges = [g for g in GAUGES if any(g[1] in e for e in self.samples)]
        half = max(20, (self.size.width - 2) // 2)
        lines = []
        for pair in (gauges[i:i + 2] for i in range(0, len(gauges), 2)):
            line = Text()
            for index, (label, key, reads, top) in enumerate(pair):
                values = [float(e[key]) for e in self.samples
                          if isinstance(e.get(key), (int, float))]
                latest = next(e for e in reversed(self.samples) if key in e)
                head = f"{label:<7} {reads(values[-1], latest):>14} " if values else \
                    f"{label:<7} {'-':>14} "
                line.append(head, style="bold")
                room = half - len(head) - 2
                line.append(sparkline(values, room, top), style="green")
                if index == 0 and len(pair) > 1:
                    line.pad_right(half - line.cell_len)
            lines.append(line)
        return Text("\n").join(lines)
