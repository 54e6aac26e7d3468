"""Where the TUI's runs come from: a small interface with the local run store as the first source.

A source yields table rows (flat dicts, the shape of ``emotui.core.results.summarize``) in batches
and fetches one run's detail. Another source (W&B) plugs in by implementing ``RunSource``.
"""

from emotui.tui.sources.base import RowBatch, RunDetail, RunSource
from emotui.tui.sources.local import LocalRunSource

__all__ = ["LocalRunSource", "RowBatch", "RunDetail", "RunSource"]
