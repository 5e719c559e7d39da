"""The Range header, for the ids hutch hands out; refusals say why."""

import pytest
from hutch.hub.errors import Invalid
from hutch.hub.notifications.ranges import IdRange, RangeNotSatisfiable, before, parse

A, B = "3N5zc42Sv8FDGl7vMpwwOrfChd7", "3N5zTEFyOFPT0Yyg1RnAso5jGhB"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, IdRange()),
        ("id", IdRange()),
        ("id;max=100", IdRange(max=100)),
        (f"id ]{A}..; max=5", IdRange(A, False, max=5)),
        (f"id {A}..", IdRange(A, True)),
        (f"id {A}..{B}[", IdRange(A, True, B, False)),
        (f"id ..{B}", IdRange(end=B)),
        ("id; max=5000", IdRange(max=1000)),  # capped
    ],
)
def test_ranges(header: str | None, expected: IdRange) -> None:
    assert parse(header) == expected


def test_next_range_is_read_back_as_the_page_after() -> None:
    asked = parse(f"id ..{B}[; max=7")
    assert parse(asked.next(A)) == IdRange(A, False, B, False, 7)
    assert before(A, 9) == IdRange(A, False, max=9)


@pytest.mark.parametrize(
    "header", ["id 12..", "id ]]x..", "id; max=0", "id; max=many", "id; limit=3", "bytes=0-100"]
)
def test_malformed_ranges_are_refused(header: str) -> None:
    with pytest.raises(Invalid):
        parse(header)


def test_another_field_is_not_satisfiable() -> None:
    with pytest.raises(RangeNotSatisfiable):
        parse("created_at ..")
