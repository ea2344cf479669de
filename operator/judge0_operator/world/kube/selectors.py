"""Label and field selectors, parsed as kube-apiserver parses them (the common forms).

Label selectors: ``a=b``, ``a==b``, ``a!=b``, ``a in (x,y)``, ``a notin (x,y)``, ``a``, ``!a``,
``a>1``, ``a<1``, comma-separated (all must hold). Field selectors: ``path=value``,
``path==value``, ``path!=value`` on dotted paths such as ``metadata.name``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

Predicate = Callable[[Mapping[str, Any]], bool]


class SelectorError(ValueError):
    """The selector cannot be parsed; the API server answers 400 BadRequest."""


def _split_terms(text: str) -> list[str]:
    """Split on commas that are not inside ``( ... )``."""
    terms: list[str] = []
    current: list[str] = []
    depth = 0
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            terms.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
    terms.append("".join(current).strip())
    return [t for t in terms if t]


_SET_TERM = re.compile(r"^([^\s!=<>(),]+)\s+(in|notin)\s*\(([^)]*)\)$")
_CMP_TERM = re.compile(r"^([^\s!=<>(),]+)\s*(==|!=|=|>|<)\s*([^\s!=<>(),]*)$")
_EXISTS_TERM = re.compile(r"^(!?)\s*([^\s!=<>(),]+)$")


def _label_term(term: str) -> Predicate:
    if m := _SET_TERM.match(term):
        key, op, raw = m.group(1), m.group(2), m.group(3)
        values = {v.strip() for v in raw.split(",") if v.strip()}
        if op == "in":
            return lambda labels: labels.get(key) in values
        return lambda labels: labels.get(key) not in values
    if m := _CMP_TERM.match(term):
        key, op, value = m.groups()
        if op in ("=", "=="):
            return lambda labels: labels.get(key) == value
        if op == "!=":
            return lambda labels: labels.get(key) != value
        try:
            bound = int(value)
        except ValueError as exc:
            raise SelectorError(
                f"unable to parse requirement: for 'Gt', 'Lt' operators, the value must be an integer: {term}"
            ) from exc
        sign = 1 if op == ">" else -1

        def compare(labels: Mapping[str, str]) -> bool:
            number = _int_or_none(labels.get(key))
            return number is not None and (number - bound) * sign > 0

        return compare
    if m := _EXISTS_TERM.match(term):
        negate, key = m.group(1) == "!", m.group(2)
        if negate:
            return lambda labels: key not in labels
        return lambda labels: key in labels
    raise SelectorError(f"unable to parse requirement: {term!r}")


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def parse_label_selector(text: str | None) -> Predicate | None:
    """A predicate over an object's labels, or None for "everything"."""
    if not text:
        return None
    terms = [_label_term(t) for t in _split_terms(text)]
    return lambda labels: all(term(labels) for term in terms)


def object_labels(obj: Mapping[str, Any]) -> Mapping[str, str]:
    return (obj.get("metadata") or {}).get("labels") or {}


def parse_field_selector(text: str | None) -> list[tuple[str, str, str]]:
    """``[(path, op, value), ...]`` with op ``=`` or ``!=``."""
    if not text:
        return []
    out = []
    for term in _split_terms(text):
        m = re.match(r"^([A-Za-z0-9_.\-\[\]]+)\s*(==|!=|=)\s*(.*)$", term)
        if not m:
            raise SelectorError(f"invalid selector: '{text}'; can't understand '{term}'")
        path, op, value = m.groups()
        out.append((path, "!=" if op == "!=" else "=", value.strip()))
    return out


def field_value(obj: Mapping[str, Any], path: str) -> str:
    """The string form of a dotted path's value (missing → ``""``, as the API server compares)."""
    node: Any = obj
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return ""
        node = node[part]
    if isinstance(node, bool):
        return "true" if node else "false"
    return "" if node is None else str(node)


def field_predicate(terms: list[tuple[str, str, str]]) -> Predicate | None:
    if not terms:
        return None

    def matches(obj: Mapping[str, Any]) -> bool:
        for path, op, value in terms:
            equal = field_value(obj, path) == value
            if equal != (op == "="):
                return False
        return True

    return matches
