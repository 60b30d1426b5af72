"""Reading a YAML file as located nodes: typed access that records every problem by line and field.

The YAML is composed (never constructed) with a safe loader, so every value keeps its line
and no YAML tag can build a Python object. config/load.py walks the tree with a Reader.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from pathlib import Path

import yaml
from yaml.constructor import SafeConstructor

from bhrdigest.errors import Problem

_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when built in: 10k subscribers
TAG = "tag:yaml.org,2002:"
_SCALAR_TAGS = {TAG + t for t in ("str", "int", "float", "bool", "null", "timestamp")}
MAX_TEXT = 500
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")  # Unicode Cc, Zl, Zp: line breaks and controls
# An RFC 2047 encoded word: a mail client decodes it, so it could smuggle "<other@address>" into a header.
_ENCODED_WORD = re.compile(r"=\?[^?\s]*\?[bBqQ]\?[^?\s]*\?=")


def compose(path: Path, reader: Reader, *, missing_hint: str) -> yaml.Node | None:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        reader.add(None, "(file)", f"not found; {missing_hint}")
        return None
    except (OSError, UnicodeDecodeError) as exc:
        reader.add(None, "(file)", f"cannot be read as UTF-8 text: {exc}")
        return None
    try:
        root = yaml.compose(text, Loader=_YAML_LOADER)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        context = f" ({exc.context} at line {exc.context_mark.line + 1})" if exc.context and exc.context_mark else ""
        reader.add(mark.line + 1 if mark else None, "(syntax)", f"YAML syntax error: {exc.problem}{context}")
        return None
    except yaml.YAMLError as exc:  # ReaderError: a character YAML does not allow
        line = text.count("\n", 0, getattr(exc, "position", 0)) + 1
        reader.add(line, "(syntax)", f"YAML cannot read this file: {str(exc).splitlines()[0]}")
        return None
    if root is None:
        reader.add(None, "(document)", "the file is empty: it needs sender, feeds, companies and subscribers")
        return None
    if not isinstance(root, yaml.MappingNode) or root.tag != TAG + "map":
        reader.add(root, "(document)", "the file must be a mapping with sender, feeds, companies and subscribers")
        return None
    return root


class Reader:
    """Typed access to YAML nodes; every complaint is recorded as a located Problem."""

    def __init__(self, file: str):
        self.file = file
        self.problems: list[Problem] = []

    def add(self, where: yaml.Node | int | None, field: str, message: str) -> None:
        line = where.start_mark.line + 1 if isinstance(where, yaml.Node) else where
        self.problems.append(Problem(self.file, line, field or "(top level)", message))

    def entries(
        self, node: yaml.Node | None, field: str, allowed: Iterable[str] | None = None
    ) -> list[tuple[str, yaml.Node, yaml.Node]]:
        """(key, key node, value node) of a mapping; reports non-mappings, odd keys,
        duplicates (case-insensitive) and, when `allowed` is given, unknown keys."""
        if node is None or is_null(node):
            return []
        if not isinstance(node, yaml.MappingNode) or node.tag != TAG + "map":
            self.add(node, field, f"expected a mapping (key: value lines), got {describe(node)}")
            return []
        result: list[tuple[str, yaml.Node, yaml.Node]] = []
        first_line: dict[str, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == TAG + "merge":
                self.add(key_node, field, "YAML merge keys (<<) are not supported: write the values out")
                continue
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag not in _SCALAR_TAGS or is_null(key_node):
                self.add(key_node, field, f"keys must be plain text, got {describe(key_node)}")
                continue
            key = key_node.value.strip()
            where = f"{field}.{key}" if field else key
            if key.casefold() in first_line:
                self.add(key_node, where, f"duplicate key: already given at line {first_line[key.casefold()]}")
                continue
            first_line[key.casefold()] = key_node.start_mark.line + 1
            if allowed is not None and key not in allowed:
                self.add(key_node, where, f"unknown key {key!r}{did_you_mean(key, allowed)}")
                continue
            result.append((key, key_node, value_node))
        return result

    def mapping(self, node: yaml.Node | None, field: str, allowed: Iterable[str]) -> dict[str, yaml.Node]:
        return {key: value for key, _, value in self.entries(node, field, allowed)}

    def sequence(self, node: yaml.Node | None, field: str) -> list[yaml.Node]:
        if node is None or is_null(node):
            return []
        if not isinstance(node, yaml.SequenceNode) or node.tag != TAG + "seq":
            self.add(node, field, f"expected a list, got {describe(node)}")
            return []
        return list(node.value)

    def text(self, node: yaml.Node | None, field: str, *, header: bool = False, required: bool = False) -> str | None:
        """Text as written, or None when absent or bad; `header=True` refuses line
        breaks (header injection). `required` reports an explicit null or empty value."""
        if node is None or is_null(node):
            if required and node is not None:
                self.add(node, field, "is empty: a value is required")
            return None
        if not isinstance(node, yaml.ScalarNode) or node.tag not in _SCALAR_TAGS:
            self.add(node, field, f"expected text, got {describe(node)}")
            return None
        value = node.value.strip()
        if not value:
            self.add(node, field, "is empty")
        elif len(value) > MAX_TEXT:
            self.add(node, field, f"is longer than {MAX_TEXT} characters")
        elif header and (problem := header_text_problem(value)):
            self.add(node, field, problem)
        else:
            return value
        return None

    def texts(self, node: yaml.Node | None, field: str, *, header: bool = False) -> list[tuple[str, yaml.Node]]:
        """A list of texts with their nodes; a single string counts as a one-item list."""
        items: list[yaml.Node]
        if isinstance(node, yaml.ScalarNode) and not is_null(node):
            items, paths = [node], [field]
        else:
            items = self.sequence(node, field)
            paths = [f"{field}[{i}]" for i in range(len(items))]
        result: list[tuple[str, yaml.Node]] = []
        for item, item_field in zip(items, paths, strict=True):
            value = self.text(item, item_field, header=header, required=True)
            if value is not None:
                result.append((value, item))
        return result

    def integer(self, node: yaml.Node | None, field: str, low: int, high: int) -> int | None:
        if node is None or is_null(node):
            return None
        if not isinstance(node, yaml.ScalarNode) or node.tag != TAG + "int":
            self.add(node, field, f"expected a whole number, got {describe(node)}")
            return None
        try:
            value = SafeConstructor().construct_yaml_int(node)
        except ValueError:  # more digits than Python converts
            value = None
        if value is None or not low <= value <= high:
            self.add(node, field, f"must be a whole number from {low} to {high}")
            return None
        return value


def is_null(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag == TAG + "null"


_KINDS = {"map": "a mapping", "seq": "a list", "str": "text", "int": "a number", "float": "a number",
          "bool": "true/false", "null": "nothing", "timestamp": "a date"}


def describe(node: yaml.Node | None) -> str:
    """What the file holds here, for "expected X, got Y"."""
    if node is None:
        return "nothing"
    kind = _KINDS.get(node.tag.removeprefix(TAG)) if node.tag.startswith(TAG) else None
    if kind is None:
        return f"unsupported YAML tag {node.tag!r} (only plain YAML is allowed)"
    if isinstance(node, yaml.ScalarNode) and not is_null(node):
        value = node.value if len(node.value) <= 60 else node.value[:57] + "..."
        return f"{kind} {value!r}"
    return kind


def header_text_problem(value: str) -> str | None:
    """Why `value` cannot go into an email header as a display name, or None."""
    if has_control(value):
        return "contains a line break or control character (it would go into an email header)"
    if _ENCODED_WORD.search(value):
        return ("contains an RFC 2047 encoded word (=?charset?b?…?=): write the name as plain "
                "text; bhrdigest encodes it for the email header itself")
    return None


def has_control(value: str) -> bool:
    return _CONTROL.search(value) is not None


def did_you_mean(word: str, choices: Iterable[str], *, cutoff: float = 0.6) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=cutoff)
    if not close:
        folded = {c.casefold(): c for c in choices}
        close = [folded[m] for m in difflib.get_close_matches(word.casefold(), list(folded), n=1, cutoff=cutoff)]
    return f"; did you mean {close[0]!r}?" if close else ""
