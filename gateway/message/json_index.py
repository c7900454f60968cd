"""The descendant index of a JSON document: every key's values in document order, built in one walk and
shared by all the `//name` lookups of a message (gateway.expressions.json_fastpath answers them)."""

from __future__ import annotations

from itertools import repeat
from typing import Any


def descendant_index(document: Any) -> dict[str, list[Any]]:
    """Every key's values in document order, from one walk of the document (shared by all the
    `//name` lookups of a message, so each lookup is a dictionary access)."""
    index: dict[str, list[Any]] = {}
    try:
        _index_into(index, document)
    except RecursionError:  # nesting is the client's choice: orjson reads 1024 levels, more than recursion allows
        return _index_iteratively(document)
    return index


def _index_into(index: dict[str, list[Any]], value: Any) -> None:
    # A module-level function, not a recursive closure: a closure that calls itself is a reference
    # cycle, which would keep every message's JSON alive until the next full garbage collection.
    if isinstance(value, dict):
        for key, child in value.items():
            index.setdefault(key, []).append(child)
            if isinstance(child, (dict, list)):
                _index_into(index, child)
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, (dict, list)):
                _index_into(index, item)


_ITEM = object()  # the "key" of an array item (and of the document itself)


def _index_iteratively(document: Any) -> dict[str, list[Any]]:
    """The same index without recursion (slower: only for documents too deep for `_index_into`). A stack of
    (key, value) still to visit; members are pushed in reverse so that they pop in document order."""
    index: dict[str, list[Any]] = {}
    stack: list[tuple[Any, Any]] = [(_ITEM, document)]
    while stack:
        key, value = stack.pop()
        if key is not _ITEM:
            index.setdefault(key, []).append(value)
        if isinstance(value, dict):
            stack.extend(reversed(value.items()))
        elif isinstance(value, list):
            stack.extend(zip(repeat(_ITEM), reversed(value)))
    return index
