"""The run directory's vocabulary (core/vocabulary.py) is the one place its words are spelt.

The guard walks every module of emotui with ``ast`` and fails, naming the file, the line and
the name to use, on a string constant equal to a guarded word (a results.json key, an event
field) anywhere but core/vocabulary.py; docstrings are prose and left alone. An event's name
(train, eval, test, system) is also a data split's and a CLI choice's, so it is refused where
it is an event's split: compared with an event's ``split`` field (read with ``.get``, a
subscript or ``events.split_of``, directly or through a name bound to it), written as one
(the first argument of ``.event`` / ``.write``, ``split=``, a dict's ``split`` entry).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import emotui
from emotui.core import vocabulary
from emotui.core.vocabulary import COMMON_WORDS, Event, EventField, ResultKey, result_key

PACKAGE = Path(emotui.__file__).parent
VOCABULARY = PACKAGE / "core" / "vocabulary.py"

# (module, word): (how many literals, why): literals there that mean something else. A new one
# in the same module fails as any other. Keep it short.
ALLOWED = {
    ("core/training_args_table.py", ResultKey.LABEL_NAMES):
        (1, "transformers' TrainingArguments field (a generated table)"),
    ("train/export.py", ResultKey.LABEL_NAMES):
        (2, "a key of the exported folder's marker and of `export --json`, not of results.json"),
    ("train/reference.py", EventField.LOSS):
        (2, "HF Trainer's key for the training loss in the logs it hands a callback"),
    ("tui/widgets/plot_grid.py", EventField.LOSS): (1, "a plot's legend (display text)"),
    ("tui/widgets/plot_grid.py", EventField.ACCURACY): (1, "a plot's legend (display text)"),
}


def _names(namespace: type) -> dict[str, str]:
    """word -> "Namespace.NAME" for every constant of a namespace."""
    return {value: f"{namespace.__name__}.{name}" for name, value in vars(namespace).items()
            if name.isupper() and isinstance(value, str)}


GUARDED = {word: name for namespace in (ResultKey, EventField)
           for word, name in _names(namespace).items() if word not in COMMON_WORDS}
EVENTS = _names(Event)
EVENT_WORDS = {**EVENTS, **{word.encode(): name for word, name in EVENTS.items()}}


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                found.add(id(body[0].value))
    return found


def _is_split_key(node: ast.AST | None) -> bool:
    """``"split"`` or ``EventField.SPLIT``."""
    if isinstance(node, ast.Constant):
        return node.value == EventField.SPLIT
    return isinstance(node, ast.Attribute) and node.attr == "SPLIT"


def _reads_split(node: ast.AST, bound: set[str]) -> bool:
    """An expression that is an event's split: ``e.get("split")``, ``e["split"]``,
    ``split_of(line)``, ``str(e.get("split") or ...)``, or a name bound to one."""
    if isinstance(node, ast.Name):
        return node.id in bound
    if isinstance(node, ast.Subscript):
        return _is_split_key(node.slice)
    if isinstance(node, ast.BoolOp):
        return any(_reads_split(value, bound) for value in node.values)
    if isinstance(node, ast.Call):
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr == "get" and node.args:
            return _is_split_key(node.args[0])
        if isinstance(func, ast.Name) and func.id == "split_of":
            return True
        if isinstance(func, ast.Name) and func.id == "str" and node.args:
            return _reads_split(node.args[0], bound)
    return False


_SCOPES = (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)


def _own_nodes(scope: ast.AST):
    """The nodes of a scope, without those of the functions defined in it (their own)."""
    todo = list(ast.iter_child_nodes(scope))
    while todo:
        node = todo.pop()
        yield node
        if not isinstance(node, _SCOPES):
            todo.extend(ast.iter_child_nodes(node))


def _bound_to_split(scope: ast.AST) -> set[str]:
    """The names a scope binds to an event's split (``split = event.get("split")``)."""
    bound: set[str] = set()
    for node in sorted((n for n in _own_nodes(scope) if isinstance(n, ast.Assign)),
                       key=lambda n: (n.lineno, n.col_offset)):
        for target in node.targets:
            pairs = [(target, node.value)]
            if isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple):
                pairs = list(zip(target.elts, node.value.elts))
            for name, value in pairs:
                if isinstance(name, ast.Name) and _reads_split(value, bound):
                    bound.add(name.id)
    return bound


def _event_constants(node: ast.AST) -> list[ast.Constant]:
    """The constants in ``node`` (itself, or the items of a tuple, list or set) that are event
    names."""
    items = node.elts if isinstance(node, (ast.Tuple, ast.List, ast.Set)) else [node]
    return [item for item in items
            if isinstance(item, ast.Constant) and isinstance(item.value, (str, bytes))
            and item.value in EVENT_WORDS]


def _event_literals(tree: ast.AST) -> list[ast.Constant]:
    """Event names spelt where they are an event's split."""
    found: list[ast.Constant] = []
    for scope in (node for node in ast.walk(tree) if isinstance(node, _SCOPES)):
        bound = _bound_to_split(scope)
        for node in _own_nodes(scope):
            if isinstance(node, ast.Compare):
                operands = [node.left, *node.comparators]
                if any(_reads_split(operand, bound) for operand in operands):
                    for operand in operands:
                        found.extend(_event_constants(operand))
            elif isinstance(node, ast.Call):
                func = node.func
                if isinstance(func, ast.Attribute) and func.attr in ("event", "write") \
                        and node.args:
                    found.extend(_event_constants(node.args[0]))
                for keyword in node.keywords:
                    if keyword.arg == EventField.SPLIT:
                        found.extend(_event_constants(keyword.value))
            elif isinstance(node, ast.Dict):
                for key, value in zip(node.keys, node.values):
                    if _is_split_key(key):
                        found.extend(_event_constants(value))
    return found


def spelt_out(path: Path) -> list[tuple[int, str, str]]:
    """(line, word, name to use) for each literal of the vocabulary in a module."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    prose = _docstrings(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and id(node) not in prose and node.value in GUARDED:
            found.append((node.lineno, node.value, GUARDED[node.value]))
    for node in _event_literals(tree):
        word = node.value.decode() if isinstance(node.value, bytes) else node.value
        found.append((node.lineno, word, EVENTS[word]))
    return sorted(found)


def test_no_module_spells_the_vocabulary_out():
    problems = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == VOCABULARY:
            continue
        module = path.relative_to(PACKAGE).as_posix()
        found = spelt_out(path)
        for line, word, name in found:
            allowed, _why = ALLOWED.get((module, word), (0, ""))
            if sum(1 for f in found if f[1] == word) != allowed:
                problems.append(f'emotui/{module}:{line}: "{word}" -> use {name} '
                                "(emotui.core.vocabulary)")
    assert not problems, "\n".join(problems)


def test_every_allowance_is_still_needed():
    for (module, word), (count, why) in ALLOWED.items():
        assert why
        found = [f for f in spelt_out(PACKAGE / module) if f[1] == word]
        assert len(found) == count, (
            f"emotui/{module} spells {word!r} {len(found)} times, not {count}: "
            "use the vocabulary's name for a new one, or drop an allowance no longer needed")


def test_the_guard_finds_what_it_should(tmp_path):
    module = tmp_path / "m.py"
    module.write_text(
        '"""A docstring may say test_accuracy."""\n'
        'def f(event, results, writer, line):\n'
        '    """eval_accuracy, in prose."""\n'
        '    split = event.get("split")\n'
        '    if split == "eval" or event["split"] in ("train", "system"):\n'
        '        writer.write("test", 1)\n'
        '    if split_of(line) == b"train":\n'
        '        pass\n'
        '    data_split = "train"  # a data split, not an event\n'
        '    return results.get("test_accuracy"), {"split": "eval"}, results["run_id"]\n')
    assert [(line, word) for line, word, _name in spelt_out(module)] == [
        (4, "split"), (5, "eval"), (5, "split"), (5, "system"), (5, "train"), (6, "test"),
        (7, "train"), (10, "eval"), (10, "split"), (10, "test_accuracy")]


@pytest.mark.parametrize("namespace", [ResultKey, Event, EventField])
def test_each_group_lists_every_constant_once(namespace):
    constants = [value for name, value in vars(namespace).items()
                 if name.isupper() and isinstance(value, str)]
    assert len(constants) == len(set(constants)), "two names for one word"
    assert sorted(namespace.ALL) == sorted(constants), "ALL must list every constant"
    assert all(name.lower() == value for name, value in vars(namespace).items()
               if name.isupper() and isinstance(value, str)), "a name spells its word"


def test_no_word_is_in_two_groups_and_common_words_are_words():
    groups = [set(ResultKey.ALL), set(Event.ALL), set(EventField.ALL)]
    every = [word for group in groups for word in group]
    assert len(every) == len(set(every))
    assert set(COMMON_WORDS) <= set(ResultKey.ALL) | set(EventField.ALL)
    assert set(Event.SCORED) <= set(Event.ALL) and set(EventField.SCORES) <= set(EventField.ALL)


def test_result_keys_of_scores():
    assert result_key(Event.EVAL, EventField.ACCURACY) == ResultKey.EVAL_ACCURACY
    assert result_key(Event.TEST, EventField.MACRO_F1) == ResultKey.TEST_MACRO_F1
    assert result_key(Event.TEST, EventField.LOSS) == ResultKey.TEST_LOSS
    for event, score in [(Event.TRAIN, EventField.LOSS), (Event.EVAL, EventField.STEP)]:
        with pytest.raises(ValueError, match="no key"):
            result_key(event, score)


def test_the_contract_is_spelt_in_the_vocabulary():
    from emotui.core.results import RESULT_KEYS, SUMMARY_METRICS

    assert set(RESULT_KEYS) | set(SUMMARY_METRICS) <= set(ResultKey.ALL)


def test_the_vocabulary_is_plain_words():
    """JSON and YAML write the word itself; the module imports nothing."""
    import json

    import yaml

    assert json.dumps({ResultKey.TEST_ACCURACY: 1}) == '{"test_accuracy": 1}'
    assert yaml.safe_dump({Event.EVAL: ResultKey.COLLAPSED}) == "eval: collapsed\n"
    tree = ast.parse(VOCABULARY.read_text(encoding="utf-8"))
    imports = [node for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))]
    assert [getattr(node, "module", None) for node in imports] == ["__future__"]
    assert vocabulary.__doc__
