"""Where the TUI's runs come from: a small interface with the local run store as the first source.

A source yields table rows (flat dicts, the shape of ``emotui.core.results.summarize``) in batches
and fetches one run's detail, and says what it can do (``SourceCapabilities``). Another source
(W&B) plugs in by implementing ``RunSource``; one that only shows runs starts from
``ReadOnlyRunSource``.
"""

from emotui.tui.sources.base import (
    READ_ONLY,
    ReadOnlyRunSource,
    RowBatch,
    RunDetail,
    RunSource,
    SourceCapabilities,
)
from emotui.tui.sources.local import LocalRunSource

__all__ = ["READ_ONLY", "LocalRunSource", "ReadOnlyRunSource", "RowBatch", "RunDetail",
           "RunSource", "SourceCapabilities"]
