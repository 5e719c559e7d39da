"""The rule-driven codec: short keys and coded values from versioned rule sets.

    from hutch.rules import codec_for
    codec = codec_for("max@1")
    packed = codec.pack({"action": "add", "object": "message", "data": {"text": "hi"}})
    assert codec.unpack(packed) == {"action": "add", "object": "message", "data": {"text": "hi"}}

`encode`/`decode` add the packing (packed JSON for text, packed msgpack for
binary) and the content type that names the rule set.
"""

from hutch.rules.engine import Codec, compile_rule_set
from hutch.rules.errors import CodecError, RulesError, RuleSetError
from hutch.rules.packing import (
    Form,
    codec_for,
    content_type,
    decode,
    encode,
    parse_content_type,
)
from hutch.rules.ruleset import RuleSet, builtin_rule_sets, load_rule_set, parse_rule_set

__all__ = [
    "Codec",
    "CodecError",
    "Form",
    "RuleSet",
    "RuleSetError",
    "RulesError",
    "builtin_rule_sets",
    "codec_for",
    "compile_rule_set",
    "content_type",
    "decode",
    "encode",
    "load_rule_set",
    "parse_content_type",
    "parse_rule_set",
]
