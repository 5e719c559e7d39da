"""The codec engine: a rule set compiled once into straight-line pack and unpack functions.

`compile_rule_set` writes the Python source of `pack` and `unpack` for one rule
set, field by field, and compiles it: at run time no rule tree is walked and no
rule is looked up, only the dictionaries of the message itself.

Nothing is lost. What the set does not know survives a round trip:
- a field it does not know goes under the reserved key "~", by its own name;
- a value outside a field's enumeration, or a non-object where inner keys are
  renamed, is packed wrapped in a one-element list (codes are always strings);
- a defaulted field the message lacked is listed under "~-".
With `strict=True` such a message is refused with a `CodecError` instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hutch.rules.errors import CodecError
from hutch.rules.ruleset import ABSENT, ESCAPE, FieldRule, RuleSet

Message = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Codec:
    rule_set: RuleSet
    strict: bool
    pack: Callable[[Message], Message]
    unpack: Callable[[Message], Message]
    source: str  # the generated code, for the curious

    @property
    def label(self) -> str:
        return self.rule_set.label


class _Writer:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.constants: dict[str, Any] = {}

    def line(self, indent: int, text: str) -> None:
        self.lines.append("    " * indent + text)

    def constant(self, value: Any) -> str:
        name = f"_C{len(self.constants)}"
        self.constants[name] = value
        return name


def compile_rule_set(rule_set: RuleSet, *, strict: bool = False) -> Codec:
    w = _Writer()
    _write_pack(w, rule_set, strict)
    _write_unpack(w, rule_set, strict)
    source = "\n".join(w.lines) + "\n"
    namespace: dict[str, Any] = {
        "_M": _MISSING,
        "CodecError": CodecError,
        "_unknown": _unknown,
        **w.constants,
    }
    exec(compile(source, f"<rules {rule_set.label}>", "exec"), namespace)
    return Codec(rule_set, strict, namespace["pack"], namespace["unpack"], source)


class _Missing:
    __slots__ = ()


_MISSING = _Missing()


def _unknown(label: str, what: str, names: Any) -> CodecError:
    return CodecError(f"{label} does not know {what} {sorted(map(str, names))} (strict mode)")


# -- the fast path ------------------------------------------------------------


def _write_fast_path(w: _Writer, rule_set: RuleSet, *, pack: bool) -> None:
    """One dict display for the common case: every field there, every value known.

    Anything else (a missing or unknown field, an unknown value) raises KeyError or
    TypeError inside, or fails a length check, and falls through to the general path.
    """
    if any(rule.has_default for rule in rule_set.fields):
        return  # a default changes what is written: the general path handles it
    source = "m" if pack else "p"
    items: list[str] = []
    checks: list[str] = []
    for number, rule in enumerate(rule_set.fields):
        key_in, key_out = (rule.name, rule.id) if pack else (rule.id, rule.name)
        value = f"{source}[{key_in!r}]"
        if rule.values:
            table = rule.values if pack else {code: value for value, code in rule.values.items()}
            value = f"{w.constant(table)}[{value}]"
        elif rule.fields:
            inner = f"_f{number}"
            pairs = rule.fields.items() if pack else ((short, name) for name, short in rule.fields.items())
            checks.append(f"({inner} := {value}).__class__ is dict and len({inner}) == {len(rule.fields)}")
            value = "{" + ", ".join(f"{o!r}: {inner}[{i!r}]" for i, o in pairs) + "}"
        items.append(f"{key_out!r}: {value}")
    w.line(1, f"if type({source}) is dict and len({source}) == {len(rule_set.fields)}:")
    w.line(2, "try:")
    w.line(3, f"if {' and '.join(checks) or 'True'}:")
    w.line(4, "return {" + ", ".join(items) + "}")
    w.line(2, "except (KeyError, TypeError):")
    w.line(3, "pass")


# -- pack --------------------------------------------------------------------


def _write_pack(w: _Writer, rule_set: RuleSet, strict: bool) -> None:
    label = repr(rule_set.label)
    known = w.constant(frozenset(rule.name for rule in rule_set.fields))
    w.line(0, "def pack(m):")
    _write_fast_path(w, rule_set, pack=True)
    w.line(1, "if type(m) is not dict:")
    w.line(2, f"raise CodecError('a ' + {label} + ' message is an object, not ' + type(m).__name__)")
    w.line(1, "out = {}")
    w.line(1, "seen = 0")
    w.line(1, "absent = None")
    for rule in rule_set.fields:
        w.line(1, f"v = m.get({rule.name!r}, _M)")
        w.line(1, "if v is not _M:")
        w.line(2, "seen += 1")
        _write_pack_value(w, rule, rule_set.label, strict)
        if rule.has_default:
            w.line(1, "else:")
            w.line(2, f"absent = (absent or []) + [{rule.id!r}]")
    w.line(1, "if seen != len(m):")
    if strict:
        w.line(2, f"raise _unknown({label}, 'fields', [k for k in m if k not in {known}])")
    else:
        w.line(2, f"out[{ESCAPE!r}] = {{k: x for k, x in m.items() if k not in {known}}}")
    w.line(1, "if absent:")
    w.line(2, f"out[{ABSENT!r}] = absent")
    w.line(1, "return out")
    w.line(0, "")


def _write_pack_value(w: _Writer, rule: FieldRule, label: str, strict: bool) -> None:
    at = 2
    if rule.has_default:
        default = w.constant(rule.default)
        w.line(2, f"if type(v) is type({default}) and v == {default}:")
        w.line(3, "pass  # the default is left out")
        w.line(2, "else:")
        at = 3
    target = f"out[{rule.id!r}]"
    if rule.values:
        codes = w.constant(rule.values)
        w.line(at, f"c = {codes}.get(v) if type(v) is str else None")
        w.line(at, "if c is not None:")
        w.line(at + 1, f"{target} = c")
        w.line(at, "else:")
        if strict:
            w.line(at + 1, f"raise _unknown({label!r}, 'the value of {rule.name}', [v])")
        else:
            w.line(at + 1, f"{target} = [v]")
    elif rule.fields:
        w.line(at, "if type(v) is dict:")
        w.line(at + 1, "o = {}")
        w.line(at + 1, "k = 0")
        for inner, short in rule.fields.items():
            w.line(at + 1, f"x = v.get({inner!r}, _M)")
            w.line(at + 1, "if x is not _M:")
            w.line(at + 2, f"o[{short!r}] = x")
            w.line(at + 2, "k += 1")
        inner_known = w.constant(frozenset(rule.fields))
        w.line(at + 1, "if k != len(v):")
        unknown = f"[a for a in v if a not in {inner_known}]"
        if strict:
            w.line(at + 2, f"raise _unknown({label!r}, 'the fields of {rule.name}', {unknown})")
        else:
            w.line(at + 2, f"o[{ESCAPE!r}] = {{a: b for a, b in v.items() if a not in {inner_known}}}")
        w.line(at + 1, f"{target} = o")
        w.line(at, "else:")
        if strict:
            w.line(at + 1, f"raise CodecError({label!r} + ': {rule.name} must be an object')")
        else:
            w.line(at + 1, f"{target} = [v]")
    else:
        w.line(at, f"{target} = v")


# -- unpack ------------------------------------------------------------------


def _write_unpack(w: _Writer, rule_set: RuleSet, strict: bool) -> None:
    label = repr(rule_set.label)
    ids = w.constant(frozenset(rule.id for rule in rule_set.fields) | {ESCAPE, ABSENT})
    w.line(0, "def unpack(p):")
    _write_fast_path(w, rule_set, pack=False)
    w.line(1, "if type(p) is not dict:")
    w.line(2, f"raise CodecError('a packed ' + {label} + ' message is an object, not ' + type(p).__name__)")
    w.line(1, "m = {}")
    w.line(1, "seen = 0")
    w.line(1, f"absent = p.get({ABSENT!r}, ())")
    for rule in rule_set.fields:
        w.line(1, f"v = p.get({rule.id!r}, _M)")
        w.line(1, "if v is not _M:")
        w.line(2, "seen += 1")
        _write_unpack_value(w, rule, rule_set.label, strict)
        if rule.has_default:
            default = w.constant(rule.default)
            w.line(1, f"elif {rule.id!r} not in absent:")
            w.line(2, f"m[{rule.name!r}] = {default}")
    w.line(1, "if seen != len(p):")
    w.line(2, f"extra = [k for k in p if k not in {ids}]")
    w.line(2, "if extra:")
    w.line(
        3,
        f"raise CodecError({label} + ' has no field with id ' + ', '.join(map(repr, sorted(map(str, extra)))))",
    )
    w.line(2, f"escaped = p.get({ESCAPE!r})")
    w.line(2, "if escaped is not None:")
    if strict:
        w.line(3, f"raise _unknown({label}, 'fields', escaped)")
    else:
        w.line(3, "if type(escaped) is not dict:")
        w.line(4, f"raise CodecError('the {ESCAPE!s} of a packed ' + {label} + ' message must be an object')")
        w.line(3, "m.update(escaped)")
    w.line(1, "return m")
    w.line(0, "")


def _write_unpack_value(w: _Writer, rule: FieldRule, label: str, strict: bool) -> None:
    target = f"m[{rule.name!r}]"
    wrapped_error = f"raise CodecError({label!r} + ': a wrapped value of {rule.name} holds one item')"
    if rule.values:
        values = w.constant({code: value for value, code in rule.values.items()})
        w.line(2, f"x = {values}.get(v) if type(v) is str else None")
        w.line(2, "if x is not None:")
        w.line(3, f"{target} = x")
        w.line(2, "elif type(v) is list and len(v) == 1 and not " + repr(strict) + ":")
        w.line(3, f"{target} = v[0]")
        w.line(2, "else:")
        w.line(3, f"raise CodecError({label!r} + ': ' + repr(v) + ' is not a code of {rule.name}')")
    elif rule.fields:
        w.line(2, "if type(v) is dict:")
        w.line(3, "o = {}")
        w.line(3, "k = 0")
        for inner, short in rule.fields.items():
            w.line(3, f"x = v.get({short!r}, _M)")
            w.line(3, "if x is not _M:")
            w.line(4, f"o[{inner!r}] = x")
            w.line(4, "k += 1")
        inner_ids = w.constant(frozenset(rule.fields.values()) | {ESCAPE})
        w.line(3, "if k != len(v):")
        w.line(4, f"bad = [a for a in v if a not in {inner_ids}]")
        w.line(4, "if bad:")
        w.line(5, f"raise CodecError({label!r} + ': {rule.name} has no inner key ' + repr(bad[0]))")
        w.line(4, f"e = v.get({ESCAPE!r})")
        w.line(4, "if e is not None:")
        if strict:
            w.line(5, f"raise _unknown({label!r}, 'the fields of {rule.name}', e)")
        else:
            w.line(5, "if type(e) is not dict:")
            w.line(
                6, f"raise CodecError({label!r} + ': the escaped fields of {rule.name} must be an object')"
            )
            w.line(5, "o.update(e)")
        w.line(3, f"{target} = o")
        w.line(2, f"elif type(v) is list and len(v) == 1 and not {strict!r}:")
        w.line(3, f"{target} = v[0]")
        w.line(2, "else:")
        w.line(3, wrapped_error)
    else:
        w.line(2, f"{target} = v")
