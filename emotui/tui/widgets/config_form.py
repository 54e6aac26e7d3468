"""The launch form, generated from the run config schema (emotui.core.config.RUN_SETTINGS).

One row per field: its name, an input fitting its type (text, a choice list, a switch), and an
inline message when the value does not validate. The field's help (``FieldSpec.describe``, the
same text as its flag's) shows as the tooltip and in the screen's help line when the field has
focus. Only fields the user changed become explicit settings, so the run's config.yaml records
defaults as defaults. ``field_input`` builds the input of any settings field (the launch
screen's Slurm rows too).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Input, Label, Select, Static, Switch
from textual.widgets.input import Selection

from emotui.core import methods
from emotui.core.config import FIELDS, RUN_SETTINGS, check_range, coerce_value
from emotui.core.errors import ConfigError
from emotui.core.settings import FieldSpec, as_text, form_specs, select_options


class Cursor(NamedTuple):
    """Where the cursor was in a form about to be remounted."""

    field: str
    following: tuple[str, ...]  # the fields after it, in order
    text: str | None  # a text field's value and selection
    selection: Selection | None


def form_fields(method: str, advanced: bool) -> list[str]:
    """The fields shown for a method: the common ones, or every applicable one when advanced."""
    return [spec.name for spec in form_specs(RUN_SETTINGS, method=method, advanced=advanced)]


def default_text(name: str, method: str) -> str:
    """What a field shows before any edit: the method's implied default, else the schema's."""
    return as_text(methods.get(method).defaults.get(name, FIELDS[name].default))


def field_input(spec: FieldSpec, initial: str, widget_id: str, placeholder: str) -> Widget:
    """The input fitting a field's type: a choice list, a switch or a text box."""
    help_text = spec.describe()
    options = select_options(spec)
    if options is not None:
        return Select(options, value=initial, allow_blank=False, compact=True, id=widget_id,
                      tooltip=help_text)
    if spec.type is bool:
        return Switch(value=initial == "true", id=widget_id, tooltip=help_text,
                      classes="field-switch")
    return Input(initial, placeholder=placeholder, compact=True, id=widget_id, tooltip=help_text)


def field_id(name: str) -> str:
    return f"field-{name}"


def check_field(name: str, raw: str) -> str | None:
    """The inline message for a raw value (None when it is valid)."""
    value: Any = raw
    if raw.strip() == "" and FIELDS[name].nullable:
        return None  # unset
    if raw == "" and FIELDS[name].type is str:
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
        spec = FIELDS[self.field_name]
        with Horizontal(classes="field-line"):
            yield Label(spec.form_label, classes="field-name")
            # An empty field takes the default: say which ("auto", "the init text's length").
            yield field_input(spec, self.initial, field_id(self.field_name),
                              placeholder=self.default or spec.default_help or "unset")
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
            g = FIELDS[name].group
            if g != group:
                group = g
                yield Static(g, classes="field-group")
            yield FieldRow(name, self.method, self.values.get(name))

    def rows(self) -> list[FieldRow]:
        return list(self.query(FieldRow))

    def raw_values(self) -> dict[str, str]:
        return {row.field_name: row.raw for row in self.rows()}

    def edited_values(self) -> dict[str, str]:
        """The raw text of the fields changed from what they started as (their default)."""
        return {row.field_name: row.raw for row in self.rows() if row.changed}

    def field_widget(self, name: str) -> Widget:
        return self.query_one(f"#{field_id(name)}")

    def first_field(self) -> Widget:
        """The input of the first field, which has the cursor when the form opens."""
        return self.field_widget(self.rows()[0].field_name)

    def cursor_at(self, widget: Widget | None) -> Cursor | None:
        """Where the cursor is when ``widget`` has it: a field of this form, else None."""
        row = self._row_of(widget) if widget is not None else None
        if row is None:
            return None
        names = [r.field_name for r in self.rows()]
        text = widget if isinstance(widget, Input) else None
        return Cursor(row.field_name, tuple(names[names.index(row.field_name) + 1:]),
                      text.value if text else None, text.selection if text else None)

    def put_cursor(self, cursor: Cursor) -> None:
        """The cursor back in a remounted form (another method's, all fields or common ones):
        in its field, where it was in the text; when the form has no such field, in the first
        of the same group (a method's settings: the new method's first), else in the next
        field it has."""
        names = [row.field_name for row in self.rows()]
        group = FIELDS[cursor.field].group
        name = cursor.field if cursor.field in names else next(
            (n for n in names if FIELDS[n].group == group),
            next((n for n in cursor.following if n in names), names[0]))
        widget = self.field_widget(name)
        if (isinstance(widget, Input) and name == cursor.field
                and cursor.selection is not None and widget.value == cursor.text):
            # Typing goes on where it was (a fresh focus would select the whole text).
            widget.select_on_focus = False
            widget.selection = cursor.selection
            self.screen.set_focus(widget)
            widget.call_later(setattr, widget, "select_on_focus", True)
        else:
            self.screen.set_focus(widget)

    def explicit(self) -> dict[str, Any]:
        """Changed fields as a settings layer for build_config (empty text means unset)."""
        out: dict[str, Any] = {}
        for row in self.rows():
            if row.changed:
                raw = row.raw
                unset = raw.strip() == "" and FIELDS[row.field_name].nullable
                out[row.field_name] = None if unset else raw
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
