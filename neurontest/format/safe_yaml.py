"""Reading a hypothesis file's YAML without trusting it: every hostile input ends in one
ValueError line (the caller adds the file and line), never a traceback, a hang or a huge string.

Guards, in the order they apply: a size cap on the bytes; UTF-8 only (a UTF-16 byte-order mark
or an undecodable byte is named); no NUL bytes; safe loading (no Python tags); duplicate keys in
a mapping; an alias budget (aliases share nodes, so "billion laughs" stays small in memory, but
anything that walks the expanded tree — key checks, messages, reports — would not; the expanded
node count is measured on the shared graph, in linear time); a cap on every string scalar.

Mappings come back as `LineDict`s that remember their own line and each key's line.
"""

from __future__ import annotations

from typing import Any

import yaml

from neurontest.errors import YamlInputError

MAX_FILE_BYTES = 1_000_000      # hypothesis files are hand-written; 1 MB is far beyond any real one
MAX_STRING_CHARS = 20_000       # one text, description or message; longer is a paste accident
MAX_ALIASES = 100               # `*ref` uses in one file
MAX_EXPANDED_NODES = 100_000    # the document's size with every alias expanded


class LineDict(dict):
    """A mapping from YAML that remembers the line of itself and of each key."""

    line: int = 0
    key_lines: dict[str, int]


class _SafeLineLoader(yaml.SafeLoader):
    aliases = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            self.aliases += 1
            if self.aliases > MAX_ALIASES:
                mark = self.peek_event().start_mark
                raise YamlInputError(f"more than {MAX_ALIASES} YAML aliases (`*name`); write the "
                                     "values out instead", mark.line + 1)
        return super().compose_node(parent, index)


def _construct_mapping(loader: _SafeLineLoader, node: yaml.MappingNode) -> LineDict:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError:
            raise YamlInputError("a mapping key must be a plain value, not a list or mapping",
                                 key_node.start_mark.line + 1) from None
        if key in seen:
            raise YamlInputError(f"duplicate key {key!r} (first on line {seen[key]}); keep one",
                                 key_node.start_mark.line + 1)
        seen[key] = key_node.start_mark.line + 1
    mapping = LineDict(loader.construct_mapping(node, deep=True))
    mapping.line = node.start_mark.line + 1
    mapping.key_lines = {str(k.value): k.start_mark.line + 1 for k, _ in node.value}
    return mapping


_SafeLineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _expanded_size(node: yaml.Node, memo: dict[int, int]) -> int:
    """Node count with aliases expanded, memoised on the shared graph (linear in its size)."""
    if id(node) in memo:
        return memo[id(node)]
    memo[id(node)] = 1  # a recursive alias counts once rather than looping
    if isinstance(node, yaml.ScalarNode):
        if len(node.value) > MAX_STRING_CHARS:
            raise YamlInputError(f"a value of {len(node.value)} characters (at most "
                                 f"{MAX_STRING_CHARS}); shorten it", node.start_mark.line + 1)
        return 1
    if isinstance(node, yaml.MappingNode):
        children = [n for pair in node.value for n in pair]
    else:
        children = list(node.value)
    size = 1
    for child in children:
        size += _expanded_size(child, memo)
        if size > MAX_EXPANDED_NODES:
            raise YamlInputError(f"the YAML expands to more than {MAX_EXPANDED_NODES} values "
                                 "(aliases `*name` repeat what they name); write it out plainly",
                                 node.start_mark.line + 1)
    memo[id(node)] = size
    return size


def decode(raw: bytes) -> str:
    """The file's text, or a YamlInputError for size, encoding or NUL bytes."""
    if len(raw) > MAX_FILE_BYTES:
        raise YamlInputError(f"file is {len(raw)} bytes (at most {MAX_FILE_BYTES}); split it "
                             "into several hypothesis files")
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise YamlInputError("file is UTF-16; save it as UTF-8")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise YamlInputError(f"byte 0x{raw[exc.start]:02x} is not UTF-8; save the file as UTF-8",
                             line) from None
    if "\x00" in text:
        raise YamlInputError("file contains a NUL byte; remove it (is it a binary file?)",
                             text[:text.index("\x00")].count("\n") + 1)
    return text


def load(raw: bytes) -> Any:
    """Parse one YAML document from bytes under all the guards above."""
    text = decode(raw)
    try:
        loader = _SafeLineLoader(text)  # the reader rejects control characters here
    except yaml.reader.ReaderError as exc:
        raise YamlInputError(f"not valid YAML: control character #x{exc.character:04x}; remove it",
                             text[:exc.position].count("\n") + 1) from None
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _expanded_size(node, {})
        return loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise YamlInputError(f"not valid YAML: {exc.problem}; check indentation and quoting",
                             mark.line + 1 if mark else None) from None
    except yaml.YAMLError as exc:  # ReaderError (control characters) and the like
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise YamlInputError(f"not valid YAML: {first[:200]}") from None
    except RecursionError:
        raise YamlInputError("YAML nested too deeply; flatten it") from None
    finally:
        loader.dispose()
