"""Prompt helpers and answer parsing."""

from __future__ import annotations

import pytest
from peermind.bench import (
    InvalidArgument,
    Item,
    mc_context,
    mc_continuations,
    numeric_correct,
    numeric_prompt,
    parse_number,
)


def mc(query: str) -> Item:
    return Item("t/1", "t", query, ("red", "blue"), 1, None, "mc")


def test_mc_context_adds_the_question_frame_once() -> None:
    assert mc_context(mc("Which colour is the sky?")) == "Question: Which colour is the sky?\nAnswer:"
    passage = "Sky -- The sky is blue.\nQuestion: is the sky blue?"
    assert mc_context(mc(passage)) == passage + "\nAnswer:"
    framed = "Question: Which colour is the sky?\nAnswer:"
    assert mc_context(mc(framed)) == framed
    review = "Review: lovely film\nSentiment:"
    assert mc_context(mc(review)) == review


def test_mc_continuations_are_space_prefixed_choices() -> None:
    assert mc_continuations(mc("q")) == [" red", " blue"]
    with pytest.raises(InvalidArgument):
        mc_continuations(Item("t/2", "t", "q", None, None, "4", "numeric"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("So the answer is 18.", 18.0),
        ("She makes $1,234.50 a week", 1234.5),
        ("The temperature is -3 degrees", -3.0),
        ("16 - 3 - 4 = 9", 9.0),
        ("10-2", 2.0),
        ("costs $-", None),
        ("x = .5", 0.5),
        ("from 1,000,000 down to 25", 25.0),
        ("no digits here", None),
        ("answer: \u22127", -7.0),
        ("-$42", -42.0),
    ],
)
def test_parse_number_takes_the_last_number(text: str, expected: float | None) -> None:
    assert parse_number(text) == expected


def test_numeric_prompt_and_grading() -> None:
    item = Item("g/1", "g", "What is 6 x 7?", None, None, "42", "numeric")
    assert numeric_prompt(item) == "Question: What is 6 x 7?\nAnswer: Let's think step by step."
    assert numeric_prompt(item, step_by_step=False) == "Question: What is 6 x 7?\nAnswer: The answer is"
    assert numeric_correct(item, " 6 x 7 = 42. So the answer is 42.")
    assert numeric_correct(item, "$42.00")
    assert not numeric_correct(item, "It is 41.")
    assert not numeric_correct(item, "I do not know")
    with pytest.raises(InvalidArgument):
        numeric_correct(mc("q"), "1")


def test_item_json_round_trip() -> None:
    item = mc("Which colour?")
    assert Item.from_json(item.to_json()) == item
