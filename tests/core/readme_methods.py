"""Write the README's lists of methods from the method registry (emotui.core.methods).

    uv run python tests/core/readme_methods.py

Rewrites, in place and nothing else: the ``--peft_method`` and ``--method`` lists, the
``--init_lora_weights`` choices, the launch form's ``f1``–``fN`` keys, the settings groups, the
run-id tags and the "Method defaults" table (a row per method with its default rate; the
measurements column is kept from the row it replaces, and a new method's says it is unmeasured).
tests/core/test_method_docs.py fails while README.md differs from what this writes. The prose
that names methods (the first paragraph, "Export", the trainer's features) is the recipe's to
edit (docs/ARCHITECTURE.md).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from emotui.core import methods  # noqa: E402
from emotui.core.method_settings import LORA_INITS  # noqa: E402

PATH = REPO / "README.md"
COMMAND = "uv run python tests/core/readme_methods.py"
DEFAULTS_HEADER = "| method | default | test accuracy at the rates tried |"
UNMEASURED = "not measured yet (tests/benchmarks/bench_method_rates.py)"
MEASURE = "tests/benchmarks/bench_method_rates.py"

# One or more names joined by `|` (`\|` inside a table).
_LIST = r"(?:[a-z0-9_-]+(?:\\?\|))+[a-z0-9_-]+"


def short(value: float) -> str:
    """A rate as the README writes it: 2e-3."""
    mantissa, exponent = f"{value:e}".split("e")
    return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"


def _joined(names, escaped: bool) -> str:
    return ("\\|" if escaped else "|").join(names)


def _list_after(lead: str, names) -> tuple[re.Pattern, object]:
    """A pattern for ``lead`` followed by a list, and what replaces the list (escaped as found)."""
    pattern = re.compile(re.escape(lead) + f"({_LIST})")
    return pattern, lambda m: lead + _joined(names, "\\|" in m.group(1))


def _groups() -> str:
    groups = [f"`{group.GROUP}`" for group in methods.setting_groups()]
    return ", ".join(groups[:-1]) + f" and {groups[-1]}" if len(groups) > 1 else groups[0]


def defaults_table(readme: str) -> str:
    """The "Method defaults" table, a row per method in registry order; each row keeps the
    measurements of the row it replaces (keyed by the alias in its first cell)."""
    start = readme.index(DEFAULTS_HEADER)
    line_start = readme.rindex("\n", 0, start) + 1
    indent = readme[line_start:start]
    lines = readme[line_start:].split("\n")
    end = next((i for i, line in enumerate(lines) if not line.strip().startswith("|")),
               len(lines))
    notes = {}
    for row in lines[2:end]:
        cells = [c.strip() for c in row.strip().strip("|").split("|")]
        key = cells[0].strip("`")
        notes[key] = "|".join(cells[2:]).strip()
    rows = [f"{indent}| `{m.alias}` | {short(m.defaults['learning_rate'])} | "
            f"{notes.get(m.alias) or UNMEASURED} |" for m in methods.METHODS]
    table = "\n".join([*lines[:2], *rows])
    block = "\n".join(lines[:end])
    return readme[:line_start] + table + readme[line_start + len(block):]


def text(readme: str) -> str:
    """``readme`` with every generated list as the registry makes it."""
    substitutions = [
        _list_after("`--peft_method ", [p for p in methods.peft_choices() if p]),
        _list_after("`--method ", methods.aliases()),
        _list_after("`--init_lora_weights ", LORA_INITS),
        _list_after("tag ", [m.tag for m in methods.METHODS]),
        (re.compile(r"`f1`–`f\d+` pick the method"),
         lambda m: f"`f1`–`f{len(methods.METHODS)}` pick the method"),
        (re.compile(r"The groups are(\s+)(?:`[a-z0-9_]+`,\s+)*`[a-z0-9_]+`\s+and\s+`[a-z0-9_]+`"),
         lambda m: f"The groups are{m.group(1)}{_groups()}"),
    ]
    for pattern, replace in substitutions:
        readme, count = pattern.subn(replace, readme)
        if not count:
            raise LookupError(f"README.md has no {pattern.pattern!r} left to generate")
    return defaults_table(readme)


if __name__ == "__main__":
    PATH.write_text(text(PATH.read_text(encoding="utf-8")), encoding="utf-8")
    print(PATH)
