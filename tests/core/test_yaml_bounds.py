"""Every YAML document emotui loads is bounded as expanded (core.yaml_load): a billion-laughs
alias anywhere, under a key emotui ignores too, is one line before any part of it is used;
everything within the bounds loads exactly as yaml.safe_load reads it."""

from __future__ import annotations

import re
import tracemalloc
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emotui.core import yaml_load
from emotui.core.config import config_from_yaml
from emotui.core.config_files import read_yaml_mapping
from emotui.core.errors import ConfigError
from emotui.core.runview import read_yaml_object
from emotui.core.yaml_load import MAX_NODES, YamlTooLarge, load_yaml

ROOT = Path(__file__).resolve().parents[2]
PROPERTY = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])
# Keys a sweep file may hold that emotui never reads as settings.
IGNORED_KEYS = ("command", "program", "project", "description", "name", "entity", "job")


def laughs(width: int, levels: int, key: str = "description") -> str:
    """A sweep file whose ``key`` holds ``width ** levels`` values once expanded."""
    anchors = '  - &l0 "lol"\n' + "".join(
        f"  - &l{i} [{', '.join([f'*l{i - 1}'] * width)}]\n" for i in range(1, levels + 1))
    return ("method: grid\nparameters:\n  learning_rate: {values: [0.001]}\n"
            f"{key}:\n{anchors}")


def expanded(value, memo=None) -> int:
    """Values in ``value`` as json.dumps would write them (shared objects once per use)."""
    memo = {} if memo is None else memo
    if id(value) in memo:
        return memo[id(value)]
    if isinstance(value, dict):
        n = 1 + sum(expanded(k, memo) + expanded(v, memo) for k, v in value.items())
    elif isinstance(value, list):
        n = 1 + sum(expanded(v, memo) for v in value)
    else:
        n = 1
    memo[id(value)] = n
    return n


# -- properties ---------------------------------------------------------------------------------

plain = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.text(max_size=12)
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=5)
    | st.dictionaries(st.text(min_size=1, max_size=8), inner, max_size=5),
    max_leaves=40)


@PROPERTY
@given(plain)
def test_a_document_within_the_bounds_loads_as_safe_load_reads_it(value):
    text = yaml.safe_dump(value)
    assert load_yaml(text, "doc") == yaml.safe_load(text)


@PROPERTY
@given(width=st.integers(2, 12), levels=st.integers(1, 12), key=st.sampled_from(IGNORED_KEYS))
def test_an_alias_bomb_is_refused_before_it_is_expanded(width, levels, key):
    text = laughs(width, levels, key)
    sizes = [1]  # values in each anchored node, expanded: "lol", then lists of the one before
    for _ in range(levels):
        sizes.append(1 + width * sizes[-1])
    size = 1 + sum(sizes)  # the key's list of them
    tracemalloc.start()
    try:
        data = load_yaml(text, "sweep file x.yaml")
    except YamlTooLarge as exc:
        _, peak = tracemalloc.get_traced_memory()
        assert size > MAX_NODES - 20  # the rest of the file holds fewer than 20
        assert "\n" not in str(exc) and str(exc).startswith("sweep file x.yaml holds more than")
        assert peak < 20_000_000, f"refusing took {peak} bytes"  # composed, never expanded
    else:
        assert expanded(data) <= MAX_NODES + 10 and data == yaml.safe_load(text)
    finally:
        tracemalloc.stop()


@st.composite
def alias_documents(draw):
    """Random YAML with anchors: each anchored list refers to earlier anchors or scalars."""
    count = draw(st.integers(1, 14))
    lines = []
    for i in range(count):
        refs = draw(st.lists(st.one_of(st.integers(0, max(0, i - 1)).map(
            lambda j, i=i: f"*a{j}" if i else "x"), st.just("1"), st.just("lol")),
            min_size=1, max_size=12))
        lines.append(f"k{i}: &a{i} [{', '.join(refs)}]")
    return "\n".join(lines) + "\n"


@PROPERTY
@given(alias_documents())
def test_whatever_loads_is_within_the_bound(text):
    try:
        data = load_yaml(text, "doc")
    except YamlTooLarge:
        return
    assert expanded(data) <= MAX_NODES + 1
    assert data == yaml.safe_load(text)


def test_recursive_and_deep_documents_are_one_line():
    for text in ("a: &a [*a]", "a: &a {b: *a}", "[" * 150 + "]" * 150,
                 "x: &a0 [1]\n" + "".join(f"y{i}: &a{i} [*a{i - 1}]\n" for i in range(1, 150))):
        with pytest.raises(YamlTooLarge) as info:
            load_yaml(text, "f.yaml")
        assert "\n" not in str(info.value) and str(info.value).startswith("f.yaml ")


def test_text_beyond_max_bytes_is_refused_unread(tmp_path, monkeypatch):
    monkeypatch.setattr(yaml_load, "MAX_BYTES", 1000)
    path = tmp_path / "big.yaml"
    path.write_text("a: " + "x" * 2000 + "\n")
    with pytest.raises(YamlTooLarge, match="emotui reads YAML files up to"):
        read_yaml_mapping(path, "config file")


# -- every file emotui reads goes through it ---------------------------------------------------


def test_no_module_but_yaml_load_calls_pyyamls_loaders():
    pattern = re.compile(r"yaml\.(safe_load|load|full_load|unsafe_load|load_all|"
                         r"safe_load_all|compose)\b|C?SafeLoader")
    offenders = [str(p.relative_to(ROOT)) for p in (ROOT / "emotui").rglob("*.py")
                 if p.name != "yaml_load.py" and pattern.search(p.read_text(encoding="utf-8"))]
    assert offenders == []


def test_a_saved_config_yaml_bomb_is_unreadable_in_one_line(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(laughs(9, 7, "description").replace("method: grid\n", ""))
    config, problem = read_yaml_object(path)
    assert config is None and "holds more than" in problem and "\n" not in problem
    with pytest.raises(ConfigError, match="run config .* holds more than"):
        config_from_yaml(path)
