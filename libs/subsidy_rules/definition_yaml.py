"""Reading a program definition's YAML: the data, and the line of every key.

A definition is YAML 1.1 read with PyYAML's safe loader, with one change: dates stay
text (no implicit timestamps), so that a date that does not parse (`2025-13-01`) is a
`ProgramError` naming its key and line from the definition checker, not a failure of
the YAML reader. Every key path (`parameters.cap.value`, `rules[2]`,
`parameters.cap.history[0].since`, the form `DefinitionChecker` names keys in) is mapped
to its 1-based line so messages can point at it. A file that is not UTF-8 (a BOM is
allowed) or not YAML is a `ProgramError` naming the line where the reader stopped.
"""

from __future__ import annotations

from typing import Any

import yaml

from subsidy_rules.parameters import ProgramError

_TIMESTAMP = "tag:yaml.org,2002:timestamp"


class _DefinitionLoader(yaml.SafeLoader):
    """The safe loader without implicit timestamps (dates are checked by the checker)."""


_DefinitionLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != _TIMESTAMP]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def read_definition(raw: bytes, file: str) -> tuple[Any, dict[str, int]]:
    """The decoded definition and {key path: line}; `ProgramError` if unreadable."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        bad_line = raw[: error.start].count(b"\n") + 1
        raise ProgramError(file, "", "not UTF-8 text", line=bad_line) from None
    loader = _DefinitionLoader(text)
    try:
        node = loader.get_single_node()
        data = None if node is None else loader.construct_document(node)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
        problem = getattr(error, "problem", None) or "not valid YAML"
        line: int | None = None if mark is None else mark.line + 1
        raise ProgramError(file, "", f"not valid YAML: {problem}", line=line) from None
    except (ValueError, TypeError, RecursionError):
        raise ProgramError(file, "", "not valid YAML") from None
    finally:
        loader.dispose()
    lines: dict[str, int] = {}
    if node is not None:
        _walk(node, "", lines, set())
    return data, lines


def _walk(node: yaml.Node, path: str, lines: dict[str, int], seen: set[int]) -> None:
    # An alias repeats a node: walk each node once, so `&a [*a, *a]` chains stay linear.
    if id(node) in seen:
        return
    seen.add(id(node))
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                child = f"{path}.{key.value}" if path else str(key.value)
                lines.setdefault(child, key.start_mark.line + 1)
                _walk(value, child, lines, seen)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, f"{path}[{index}]", lines, seen)
