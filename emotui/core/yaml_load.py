"""Every YAML document emotui reads, loaded with a bound on what it holds (``load_yaml``).

A YAML text can be small and its data enormous: an alias (``*a``) stands for the whole node its
anchor (``&a``) names, so nine lines of nine aliases each stand for 9^9 values (the "billion
laughs"). PyYAML builds the shared node once, but whatever walks the result expands it: a sweep's
spec.json written with ``json.dumps``, a copy, a table cell. A bomb under a key emotui ignores
(``description:``, ``command:``) is as bad as one under ``parameters:``.

So a document is composed first (nodes, with aliases as references to the anchored node: time
and memory linear in the text, by the C parser where PyYAML has it), its size as expanded is
counted over that graph (each distinct node once), and only a document within ``MAX_NODES``
values and ``MAX_CHARS`` characters of scalars, expanded, and ``MAX_DEPTH`` levels is
constructed. An alias that refers to a node containing it (a recursive document) is refused
too: nothing emotui reads is recursive. The text itself is bounded by ``MAX_BYTES``.

Sweep files, study files, ``--config`` files, the user config, ``--set`` values, a run's
config.yaml and a sweep's saved copy of its file are all read here; a test checks that no other
module calls PyYAML's loaders.
"""

from __future__ import annotations

from typing import Any

from emotui.core.errors import ConfigError

# Far above any file emotui writes or a person writes for it (a sweep file holds tens of values,
# a run's config.yaml about 150), far below what exhausts memory once expanded.
MAX_BYTES = 8 * 1024 * 1024
MAX_NODES = 200_000
MAX_CHARS = 16 * 1024 * 1024
MAX_DEPTH = 100


class YamlTooLarge(ConfigError):
    """A YAML document beyond the bounds; ``problem`` says how, without naming the file."""

    def __init__(self, what: str, problem: str):
        self.problem = problem
        super().__init__(f"{what} {problem}")


def _loader_class() -> type:
    import yaml

    return getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def check_text_size(size: int, what: str) -> None:
    """A text of ``size`` bytes (or characters) is within MAX_BYTES, or YamlTooLarge."""
    if size > MAX_BYTES:
        raise YamlTooLarge(what, f"is {size / 1e6:.1f} MB; emotui reads YAML files up to "
                           f"{MAX_BYTES // (1024 * 1024)} MB")


def load_yaml(text: str | bytes, what: str) -> Any:
    """The data of one YAML document (None for an empty one), as ``yaml.safe_load`` gives it.

    Raises YamlTooLarge (a one-line ConfigError naming ``what``) for a document beyond the
    bounds, and yaml.YAMLError, as safe_load does, for text that is not YAML."""
    check_text_size(len(text), what)
    loader = _loader_class()(text)
    try:
        try:
            node = loader.get_single_node()
        except RecursionError:
            raise YamlTooLarge(what, f"is nested more than {MAX_DEPTH} levels deep") from None
        if node is None:
            return None
        check_expanded_size(node, what)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _children(node: Any) -> list[Any]:
    from yaml.nodes import MappingNode

    if isinstance(node, MappingNode):
        return [part for pair in node.value for part in pair]
    return list(node.value)


def check_expanded_size(root: Any, what: str) -> tuple[int, int]:
    """(values, scalar characters) of a composed document with every alias expanded, counted
    once per distinct node; YamlTooLarge past MAX_NODES, MAX_CHARS or MAX_DEPTH (as expanded),
    or for an alias to a node that contains it."""
    from yaml.nodes import ScalarNode

    sizes: dict[int, tuple[int, int, int]] = {}  # id -> (values, characters, levels)
    ancestors: set[int] = set()
    # (node, whether its children are sized): a loop, not recursion, whatever the depth.
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        key = id(node)
        if expanded:
            ancestors.discard(key)
            nodes, chars, levels = 1, 0, 0
            for child in _children(node):
                child_nodes, child_chars, child_levels = sizes[id(child)]
                nodes += child_nodes
                chars += child_chars
                levels = max(levels, child_levels)
            _check_bounds(what, nodes, chars, levels + 1)
            sizes[key] = (nodes, chars, levels + 1)
            continue
        if key in sizes:
            continue
        if key in ancestors:
            raise YamlTooLarge(what, "refers to itself through an alias (*name inside the node "
                               "its &name anchors); emotui reads no recursive YAML")
        if isinstance(node, ScalarNode):
            _check_bounds(what, 1, len(node.value), 1)
            sizes[key] = (1, len(node.value), 1)
            continue
        ancestors.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node))
    nodes, chars, _levels = sizes[id(root)]
    return nodes, chars


def _check_bounds(what: str, nodes: int, chars: int, levels: int) -> None:
    if nodes > MAX_NODES:
        raise YamlTooLarge(what, f"holds more than {MAX_NODES:,} values once its aliases "
                           "(*name) are expanded; emotui refuses it (a YAML bomb?): write the "
                           "values out, or remove the aliases")
    if chars > MAX_CHARS:
        raise YamlTooLarge(what, f"holds more than {MAX_CHARS // (1024 * 1024)} MB of text "
                           "once its aliases (*name) are expanded; emotui refuses it (a YAML "
                           "bomb?)")
    if levels > MAX_DEPTH:
        raise YamlTooLarge(what, f"is nested more than {MAX_DEPTH} levels deep")
