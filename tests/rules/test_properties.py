"""unpack(pack(m)) == m for every message, through every packing."""

import string

from hutch.rules import Form, codec_for, decode, encode
from hypothesis import given, settings
from hypothesis import strategies as st

MAX = codec_for("max@1")
RULES = {rule.name: rule for rule in MAX.rule_set.fields}

text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=20)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | text
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
    max_leaves=12,
)


def field_value(name: str) -> st.SearchStrategy:
    rule = RULES[name]
    if rule.values:
        return st.sampled_from(sorted(rule.values)) | values
    if rule.fields:
        inner = st.fixed_dictionaries({}, optional={k: values for k in rule.fields})
        return (
            st.builds(
                lambda known, extra: {**extra, **known}, inner, st.dictionaries(text, values, max_size=2)
            )
            | values
        )
    return values


messages = st.builds(
    lambda known, extra: {**extra, **known},
    st.fixed_dictionaries({}, optional={name: field_value(name) for name in RULES}),
    st.dictionaries(st.text(string.printable, max_size=6) | text, values, max_size=3),
)


@settings(max_examples=500, deadline=None)
@given(messages)
def test_round_trip_of_the_codec(message: dict) -> None:
    assert MAX.unpack(MAX.pack(message)) == message


@settings(max_examples=300, deadline=None)
@given(messages)
def test_round_trip_through_every_packing(message: dict) -> None:
    for form in Form:
        assert decode(encode(message, form, "max@1"), form, "max@1") == message
