"""Trigger filters compiled to predicates on an event's attributes: `filter.attributes`, and the
`filters` dialects of the Subscriptions API (exact, prefix, suffix, all, any, not; no CESQL)."""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from typing import Any

from cloudevents.http import CloudEvent

from rpsquest.devbroker.errors import ManifestError

Attributes = Mapping[str, str]
Predicate = Callable[[Attributes], bool]


def attributes_of(event: CloudEvent) -> dict[str, str]:
    """Every context attribute, extensions included, as the strings filters compare."""
    return {name: str(value) for name, value in event.get_attributes().items()}


def compile_attribute_filter(expected: Mapping[str, Any], where: str) -> Predicate:
    """`filter.attributes`: every key present and equal; an empty value matches any value."""
    for name, value in expected.items():
        if not isinstance(value, str):
            raise ManifestError(f"{where}: filter.attributes.{name} must be a string.")
    wanted = dict(expected)

    def matches(attributes: Attributes) -> bool:
        return all(
            name in attributes and (value == "" or attributes[name] == value)
            for name, value in wanted.items()
        )

    return matches


def _compile_comparison(
    dialect: str, expected: Any, compare: Callable[[str, str], bool], where: str
) -> Predicate:
    if not isinstance(expected, Mapping) or not expected:
        raise ManifestError(f"{where}: `{dialect}` needs a map of attribute to value.")
    for name, value in expected.items():
        if not name or not isinstance(value, str) or not value:
            raise ManifestError(f"{where}: `{dialect}` names and values must be non-empty strings.")
    wanted = dict(expected)

    def matches(attributes: Attributes) -> bool:
        return all(
            name in attributes and compare(attributes[name], value)
            for name, value in wanted.items()
        )

    return matches


def _compile_expressions(expressions: Any, dialect: str, where: str) -> list[Predicate]:
    if not isinstance(expressions, list) or not expressions:
        raise ManifestError(f"{where}: `{dialect}` needs at least one filter expression.")
    return [compile_expression(expression, where) for expression in expressions]


def compile_expression(expression: Any, where: str) -> Predicate:
    """One `filters` expression: exactly one of exact, prefix, suffix, all, any, not."""
    if not isinstance(expression, Mapping) or len(expression) != 1:
        raise ManifestError(f"{where}: each filter expression has exactly one dialect.")
    ((dialect, value),) = expression.items()
    match dialect:
        case "exact":
            return _compile_comparison(dialect, value, operator.eq, where)
        case "prefix":
            return _compile_comparison(dialect, value, str.startswith, where)
        case "suffix":
            return _compile_comparison(dialect, value, str.endswith, where)
        case "all":
            parts = _compile_expressions(value, dialect, where)
            return lambda attributes: all(part(attributes) for part in parts)
        case "any":
            parts = _compile_expressions(value, dialect, where)
            return lambda attributes: any(part(attributes) for part in parts)
        case "not":
            inner = compile_expression(value, where)
            return lambda attributes: not inner(attributes)
        case "cesql":
            raise ManifestError(
                f"{where}: CESQL filters are not supported by the dev broker;"
                " use exact, prefix, suffix, all, any or not."
            )
        case _:
            raise ManifestError(f"{where}: unknown filter dialect {dialect!r}.")


def compile_trigger_filter(spec: Mapping[str, Any], where: str) -> Predicate:
    """`filters` (every expression true) overrides `filter`; neither passes every event."""
    if spec.get("filters"):
        parts = _compile_expressions(spec["filters"], "filters", where)
        return lambda attributes: all(part(attributes) for part in parts)
    attributes = (spec.get("filter") or {}).get("attributes") or {}
    if not isinstance(attributes, Mapping):
        raise ManifestError(f"{where}: filter.attributes must be a map.")
    return compile_attribute_filter(attributes, where)
