import json
from pathlib import Path

import pytest
from hutch.rules import RuleSetError, builtin_rule_sets, load_rule_set


def write(tmp_path: Path, document: object, name: str = "chat@1.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(document))
    return path


def rule_set(**fields: object) -> dict:
    return {"name": "chat", "version": 1, "fields": fields}


def test_max_1_ships_and_loads() -> None:
    max1 = builtin_rule_sets()["max@1"]
    fields = {rule.name: rule for rule in max1.fields}
    assert fields["object"].values["comment"] not in {"t", "a"}  # no longer collides with tweet or activity
    assert [rule.id for rule in max1.fields] == ["g", "u", "a", "o", "d", "s", "i", "v", "p", "t"]


@pytest.mark.parametrize(
    ("document", "field", "problem"),
    [
        (rule_set(a={"id": "x", "type": "string"}, b={"id": "x", "type": "int"}), "b", "duplicate id 'x'"),
        (
            rule_set(a={"id": "a", "type": "char", "values": {"one": "1", "uno": "1"}}),
            "a",
            "duplicate code '1'",
        ),
        (rule_set(a={"id": "a", "type": "text"}), "a", "unknown type 'text'"),
        (
            rule_set(a={"id": "a", "type": "object", "fields": {"x": "s", "y": "s"}}),
            "a",
            "duplicate code 's'",
        ),
        (rule_set(a={"id": "~a", "type": "string"}), "a", "'id' must be"),
        (rule_set(a={"id": "a", "type": "int", "values": {"one": "1"}}), "a", "'values' only fits"),
        (rule_set(a={"id": "a", "type": "string", "colour": "red"}), "a", "unknown keys"),
    ],
)
def test_a_bad_rule_set_is_refused_naming_file_and_field(
    tmp_path: Path, document: dict, field: str, problem: str
) -> None:
    path = write(tmp_path, document)
    with pytest.raises(RuleSetError) as refused:
        load_rule_set(path)
    assert refused.value.field == field
    assert str(path) in str(refused.value)
    assert problem in str(refused.value)


def test_the_file_name_matches_name_and_version(tmp_path: Path) -> None:
    with pytest.raises(RuleSetError, match=r"chat@1\.json"):
        load_rule_set(write(tmp_path, rule_set(a={"id": "a", "type": "string"}), "chat.json"))


def test_invalid_json_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "chat@1.json"
    path.write_text("{nope")
    with pytest.raises(RuleSetError, match="not valid JSON"):
        load_rule_set(path)
