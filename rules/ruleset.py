"""Rule sets: what a set says, and the loader that refuses a bad one.

A rule set is one JSON file per set and version (`sets/max@1.json`): for each
field of a message its short `id`, its `type`, and optionally `values` (an
enumeration: value -> code), `fields` (renames of an object's inner keys:
name -> short key) and a `default` (left out when packing, filled in when
unpacking).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from hutch.rules.errors import RuleSetError

TYPES = frozenset({"string", "object", "char", "date", "int", "bool", "list"})
ESCAPE = "~"  # packed key of what the set does not know: reserved, no id or short key may start with it
ABSENT = "~-"  # packed key listing defaulted fields the message did not have
NO_DEFAULT: Any = object()


@dataclass(frozen=True, slots=True)
class FieldRule:
    name: str
    id: str
    type: str
    values: dict[str, str] | None = None  # value -> code
    fields: dict[str, str] | None = None  # inner key -> short key
    default: Any = NO_DEFAULT

    @property
    def has_default(self) -> bool:
        return self.default is not NO_DEFAULT


@dataclass(frozen=True, slots=True)
class RuleSet:
    name: str
    version: int
    fields: tuple[FieldRule, ...]
    description: str = ""
    source: str = field(default="", compare=False)

    @property
    def label(self) -> str:
        """`name@version`, as content types and headers name it."""
        return f"{self.name}@{self.version}"


def parse_rule_set(document: Any, source: str) -> RuleSet:
    if not isinstance(document, dict):
        raise RuleSetError(source, None, "a rule set is a JSON object")
    name, version = document.get("name"), document.get("version")
    if not isinstance(name, str) or not name or "@" in name:
        raise RuleSetError(source, None, "'name' must be a non-empty string without '@'")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise RuleSetError(source, None, "'version' must be a whole number from 1")
    raw_fields = document.get("fields")
    if not isinstance(raw_fields, dict) or not raw_fields:
        raise RuleSetError(source, None, "'fields' must be an object of field rules")
    rules: list[FieldRule] = []
    ids: dict[str, str] = {}
    for field_name, spec in raw_fields.items():
        rule = _parse_field(field_name, spec, source)
        if rule.id in ids:
            raise RuleSetError(
                source, field_name, f"duplicate id '{rule.id}' (also used by '{ids[rule.id]}')"
            )
        ids[rule.id] = field_name
        rules.append(rule)
    return RuleSet(name, version, tuple(rules), str(document.get("description", "")), source)


def _parse_field(name: str, spec: Any, source: str) -> FieldRule:
    def fail(problem: str) -> RuleSetError:
        return RuleSetError(source, name, problem)

    if not isinstance(spec, dict):
        raise fail("a field rule is an object with 'id' and 'type'")
    unknown = set(spec) - {"id", "type", "values", "fields", "default"}
    if unknown:
        raise fail(f"unknown keys {sorted(unknown)}")
    short = spec.get("id")
    if not isinstance(short, str) or not short or short.startswith(ESCAPE):
        raise fail(f"'id' must be a non-empty string not starting with '{ESCAPE}'")
    kind = spec.get("type")
    if kind not in TYPES:
        raise fail(f"unknown type {kind!r}; types are {', '.join(sorted(TYPES))}")
    values = spec.get("values")
    if values is not None:
        if kind not in ("char", "string"):
            raise fail("'values' only fits a char or string field")
        values = _codes(values, "value", fail)
    inner = spec.get("fields")
    if inner is not None:
        if kind != "object":
            raise fail("'fields' only fits an object field")
        inner = _codes(inner, "inner field", fail)
    return FieldRule(name, short, kind, values, inner, spec.get("default", NO_DEFAULT))


def _codes(mapping: Any, what: str, fail: Any) -> dict[str, str]:
    if not isinstance(mapping, dict) or not mapping:
        raise fail(f"{what}s must be an object of {what} -> code")
    seen: dict[str, str] = {}
    for original, code in mapping.items():
        if not isinstance(code, str) or not code or code.startswith(ESCAPE):
            raise fail(
                f"the code of {what} '{original}' must be a non-empty string not starting with '{ESCAPE}'"
            )
        if code in seen:
            raise fail(f"duplicate code '{code}' for {what}s '{seen[code]}' and '{original}'")
        seen[code] = original
    return dict(mapping)


def load_rule_set(path: Path | str) -> RuleSet:
    path = Path(path)
    try:
        document = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise RuleSetError(str(path), None, f"not valid JSON: {error}") from None
    rule_set = parse_rule_set(document, str(path))
    expected = f"{rule_set.label}.json"
    if path.name != expected:
        raise RuleSetError(str(path), None, f"a rule set {rule_set.label} lives in a file named {expected}")
    return rule_set


def builtin_rule_sets() -> dict[str, RuleSet]:
    """The rule sets shipped in rules/sets, by label."""
    found: dict[str, RuleSet] = {}
    for entry in resources.files("hutch.rules").joinpath("sets").iterdir():
        if entry.name.endswith(".json"):
            with resources.as_file(entry) as path:
                rule_set = load_rule_set(path)
            found[rule_set.label] = rule_set
    return found
