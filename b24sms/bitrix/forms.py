"""PHP-style form keys (`auth[member_id]`, `document_id[]`, `bindings[0][OWNER_ID]`) to and from nested data."""
import re
from functools import lru_cache
from urllib.parse import quote

MAX_DEPTH = 5
_SEGMENT = re.compile(r"\[([^\[\]]*)\]")
_UNRESERVED = re.compile(r"[A-Za-z0-9_.~-]*")  # what quote(..., safe="") leaves as it is


class FormError(ValueError):
    pass


def _split(key):
    """`a[b][]` -> ["a", "b", ""]; a key that is not well formed is taken literally, as one name."""
    head, bracket, _ = key.partition("[")
    if not bracket or not head:
        return [key]
    rest = key[len(head):]
    segments = _SEGMENT.findall(rest)
    if "".join(f"[{s}]" for s in segments) != rest:
        return [key]
    if len(segments) > MAX_DEPTH:
        raise FormError(f"form key {key[:60]!r} is nested deeper than {MAX_DEPTH} levels")
    return [head, *segments]


def parse(pairs):
    """Nested dicts from (key, value) pairs; `[]` appends; dicts keyed 0..n-1 become lists."""
    root = {}
    for key, value in pairs:
        path = _split(key)
        node = root
        for depth, segment in enumerate(path):
            last = depth == len(path) - 1
            if segment == "":  # `name[]`: the next free index
                segment = str(len(node))
            if last:
                node[segment] = value
                break
            child = node.setdefault(segment, {})
            if not isinstance(child, dict):
                raise FormError(f"form key {key[:60]!r} is used both as a value and as a group")
            node = child
    # Only groups become lists: the form itself stays a dict even when every top-level key is a digit.
    return {key: _listify(value) for key, value in root.items()}


def _listify(node):
    if not isinstance(node, dict):
        return node
    converted = {key: _listify(value) for key, value in node.items()}
    # Exactly the keys "0".."n-1": not "00" (int() would say 0, the dict has no "0") nor "²" (isdigit, not int).
    if converted and set(converted) == {str(index) for index in range(len(converted))}:
        return [converted[str(index)] for index in range(len(converted))]
    return converted


def build_query(params, prefix=None):
    """The inverse: a query string PHP's parser reads back as `params` (used for batch commands)."""
    parts = []
    items = params.items() if isinstance(params, dict) else enumerate(params)
    for key, value in items:
        name = f"{prefix}[{key}]" if prefix else str(key)
        if isinstance(value, (dict, list, tuple)):
            nested = build_query(value, name)
            if nested:
                parts.append(nested)
        else:
            if value is None:
                value = ""
            elif isinstance(value, bool):
                value = "Y" if value else "N"
            text = str(value)  # most values (ids, statuses, codes) need no quoting: checked faster than quoted
            parts.append(f"{_quote_name(name)}={text if _UNRESERVED.fullmatch(text) else quote(text, safe='')}")
    return "&".join(parts)


@lru_cache(maxsize=1024)
def _quote_name(name):  # a batch repeats the same few names (CODE, MESSAGE_ID, STATUS) thousands of times
    return quote(name, safe="[]")
