"""The launch form, generated from the run config schema (emotui.core.config.FIELDS).

One row per field: its name, an input fitting its type (text, a choice list, a switch), and an
inline message when the value does not validate. Help text shows as the tooltip and in the
screen's help line when the field has focus. Only fields the user changed become explicit
settings, so the run's config.yaml records defaults as defaults.
"""

from __future__ import annotations

from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Input, Label, Select, Static, Switch

from emotui.core.config import (
    DEFAULT_PROMPT_INIT_TEXT,
    FIELDS,
    GROUPS,
    check_range,
    coerce_value,
    field_type,
    is_nullable,
)
from emotui.core.errors import ConfigError

HIDDEN = {"peft_method", "extra_training_args"}  # the method picker sets peft_method


def form_fields(method: str, advanced: bool) -> list[str]:
    """The fields shown for a method: form=True ones, or every applicable one when advanced."""
    names = []
    for name, f in FIELDS.items():
        meta = f.metadata
        if name in HIDDEN or meta.get("secret"):
            continue
        methods = meta.get("methods")
        if methods and method not in methods:
            continue
        if advanced or meta.get("form"):
            names.append(name)
    return sorted(names, key=lambda n: GROUPS.index(FIELDS[n].metadata["group"]))


def default_text(name: str, method: str) -> str:
    if name == "prompt_tuning_init_text" and method == "prompt_tuning_text":
        return DEFAULT_PROMPT_INIT_TEXT
    value = FIELDS[name].default
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def field_id(name: str) -> str:
    return f"field-{name}"


def check_field(name: str, raw: str) -> str | None:
    """The inline message for a raw value (None when it is valid)."""
    value: Any = raw
    if raw.strip() == "" and is_nullable(name):
        return None  # unset
    if raw == "" and field_type(name) is str:
        return f"{name} must not be empty"
    try:
        value = coerce_value(name, value, "form")
        check_range(name, value, "form")
    except ConfigError as exc:
        return str(exc).replace(" (from form)", "")
    return None


class FieldRow(Vertical):
    """Name, input and inline message of one config field."""

    def __init__(self, name: str, method: str, value: str | None = None):
        super().__init__(classes="field-row")
        self.field_name = name
        self.default = default_text(name, method)
        self.initial = self.default if value is None else value

    def compose(self) -> ComposeResult:
        meta = FIELDS[self.field_name].metadata
        typ = field_type(self.field_name)
        with Horizontal(classes="field-line"):
            yield Label(self.field_name, classes="field-name")
            help_text = meta["help"]
            if meta.get("choices") is not None or (typ is bool and is_nullable(self.field_name)):
                choices = meta.get("choices") or (None, True, False)
                options = [("unset" if c is None else str(c).lower(),
                            "" if c is None else str(c).lower()) for c in choices]
                yield Select(options, value=self.initial, allow_blank=False, compact=True,
                             id=field_id(self.field_name), tooltip=help_text)
            elif typ is bool:
                yield Switch(value=self.initial == "true", id=field_id(self.field_name),
                             tooltip=help_text, classes="field-switch")
            else:
                yield Input(self.initial, placeholder=self.default or "unset", compact=True,
                            id=field_id(self.field_name), tooltip=help_text)
        yield Static("", classes="field-error")

    @property
    def raw(self) -> str:
        widget = self.query_one(f"#{field_id(self.field_name)}")
        if isinstance(widget, Switch):
            return "true" if widget.value else "false"
        if isinstance(widget, Select):
            return str(widget.value)
        return widget.value

    @property
    def changed(self) -> bool:
        return self.raw != self.default

    def validate_now(self) -> str | None:
        message = check_field(self.field_name, self.raw)
        error = self.query_one(".field-error", Static)
        error.update(message or "")
        self.set_class(message is not None, "-invalid")
        return message


class ConfigForm(Widget):
    """All field rows of a method, grouped; posts Changed after each edit."""

    class Changed(Message):
        """A field of the form changed (its row has been validated)."""

    def __init__(self, method: str, advanced: bool = False, values: dict[str, str] | None = None,
                 **kwargs: Any):
        super().__init__(**kwargs)
        self.method = method
        self.advanced = advanced
        self.values = values or {}

    def compose(self) -> ComposeResult:
        group = None
        for name in form_fields(self.method, self.advanced):
            g = FIELDS[name].metadata["group"]
            if g != group:
                group = g
                yield Static(g, classes="field-group")
            yield FieldRow(name, self.method, self.values.get(name))

    def rows(self) -> list[FieldRow]:
        return list(self.query(FieldRow))

    def raw_values(self) -> dict[str, str]:
        return {row.field_name: row.raw for row in self.rows()}

    def explicit(self) -> dict[str, Any]:
        """Changed fields as a settings layer for build_config (empty text means unset)."""
        out: dict[str, Any] = {}
        for row in self.rows():
            if row.changed:
                raw = row.raw
                out[row.field_name] = None if raw.strip() == "" and is_nullable(row.field_name) \
                    else raw
        return out

    def errors(self) -> dict[str, str]:
        out = {}
        for row in self.rows():
            message = row.validate_now()
            if message:
                out[row.field_name] = message
        return out

    def _row_of(self, widget: Widget) -> FieldRow | None:
        for ancestor in widget.ancestors_with_self:
            if isinstance(ancestor, FieldRow):
                return ancestor
        return None

    @on(Input.Changed)
    @on(Select.Changed)
    @on(Switch.Changed)
    def _edited(self, event: Message) -> None:
        row = self._row_of(event.control)  # type: ignore[attr-defined]
        if row is not None:
            row.validate_now()
            self.post_message(self.Changed())
