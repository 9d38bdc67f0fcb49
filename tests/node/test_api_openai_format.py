"""OpenAI response shapes and request checks (pure: no node, no model)."""

from __future__ import annotations

import base64

import numpy as np
import pytest
from peermind.node.api.openai_format import (
    MAX_PROMPTS,
    OpenAIRequestError,
    chat_completion,
    completion_prompts,
    embedding_inputs,
    embedding_list,
    encoding_format,
    finish_reason,
    refuse_unsupported,
    stop_sequences,
    text_completion,
)
from peermind.node.api.routes_openai import model_list, pin_model
from peermind.node.collab.answer import Answer
from peermind.node.collab.constraints import NO_CONSTRAINTS, Constraints

from .collab_fakes import candidate


def answer(text: str = "Paris.", *, finish: str = "stop", prompt: int = 11, completion: int = 3,
           model: str = "smollm2") -> Answer:
    return Answer(text=text, mode="route", answered_by="peer-a", model=model, confidence=-0.2, cost=0.0,
                  latency_ms=12.0, prompt_tokens=prompt, completion_tokens=completion, finish_reason=finish)


def test_finish_reason_is_the_peers_own_even_when_the_count_says_otherwise() -> None:
    # an end token exactly at max_tokens is "stop"; a deadline clip below max_tokens is "length"
    assert finish_reason(answer(finish="stop", completion=8), max_tokens=8) == "stop"
    assert finish_reason(answer(finish="length", completion=3), max_tokens=8) == "length"


def test_a_peer_that_gave_no_reason_is_judged_by_its_token_count() -> None:
    assert finish_reason(answer(finish="", completion=8), max_tokens=8) == "length"
    assert finish_reason(answer(finish="", completion=5), max_tokens=8) == "stop"


def test_chat_completion_carries_reason_usage_and_provenance() -> None:
    out = chat_completion(answer(finish="length", prompt=20, completion=4), max_tokens=4)
    assert out["object"] == "chat.completion" and out["model"] == "smollm2"
    assert out["choices"][0]["finish_reason"] == "length"
    assert out["choices"][0]["message"] == {"role": "assistant", "content": "Paris."}
    assert out["usage"] == {"prompt_tokens": 20, "completion_tokens": 4, "total_tokens": 24}
    assert out["peermind"]["answered_by"] == "peer-a" and out["peermind"]["finish_reason"] == "length"


def test_text_completion_has_one_choice_per_prompt_and_summed_usage() -> None:
    out = text_completion([answer("a", finish="stop", prompt=5, completion=2, model="gemma3-270m"),
                           answer("b", finish="length", prompt=7, completion=16)], max_tokens=16)
    assert out["object"] == "text_completion" and out["model"] == "gemma3-270m"
    assert [(c["index"], c["text"], c["finish_reason"]) for c in out["choices"]] == [(0, "a", "stop"), (1, "b", "length")]
    assert [c["peermind"]["model"] for c in out["choices"]] == ["gemma3-270m", "smollm2"]
    assert out["usage"] == {"prompt_tokens": 12, "completion_tokens": 18, "total_tokens": 30}


def test_embedding_list_base64_decodes_to_the_same_floats() -> None:
    vectors = np.random.default_rng(0).standard_normal((2, 384)).astype(np.float32)
    as_b64 = embedding_list(vectors, [4, 9], model="m", fmt="base64", truncated=[1])
    as_float = embedding_list(vectors, [4, 9], model="m", fmt="float")
    decoded = np.frombuffer(base64.b64decode(as_b64["data"][1]["embedding"]), dtype="<f4")
    assert np.array_equal(decoded, vectors[1])
    assert as_float["data"][0]["embedding"] == pytest.approx(vectors[0].tolist())
    assert as_b64["usage"] == {"prompt_tokens": 13, "total_tokens": 13}
    assert as_b64["peermind"] == {"truncated": [1], "dimensions": 384}
    assert [d["index"] for d in as_float["data"]] == [0, 1]


@pytest.mark.parametrize(("body", "param"), [
    ({"n": 2}, "n"), ({"echo": True}, "echo"), ({"logprobs": 3}, "logprobs"),
    ({"suffix": "x"}, "suffix"), ({"best_of": 3}, "best_of"), ({"n": True}, "n"),
])
def test_parameters_that_would_be_silently_ignored_are_refused(body: dict[str, object], param: str) -> None:
    with pytest.raises(OpenAIRequestError) as caught:
        refuse_unsupported(body, ("n", "best_of", "echo", "logprobs", "suffix"))
    assert caught.value.status == 400 and caught.value.param == param
    assert caught.value.body()["error"]["code"] == "unsupported_parameter"


def test_harmless_defaults_pass() -> None:
    refuse_unsupported({"n": 1, "echo": False, "logprobs": None, "suffix": ""},
                       ("n", "echo", "logprobs", "suffix"))


@pytest.mark.parametrize("prompt", [None, "", "  ", [], [1, 2, 3], ["ok", ""], ["p"] * (MAX_PROMPTS + 1), 7])
def test_bad_prompts_are_400_naming_prompt(prompt: object) -> None:
    with pytest.raises(OpenAIRequestError) as caught:
        completion_prompts({"prompt": prompt})
    assert caught.value.status == 400 and caught.value.param == "prompt"


def test_prompts_as_string_or_list() -> None:
    assert completion_prompts({"prompt": "The sky is"}) == ("The sky is",)
    assert completion_prompts({"prompt": ["a", "b"]}) == ("a", "b")


def test_stop_sequences() -> None:
    assert stop_sequences({}) == () and stop_sequences({"stop": None}) == () and stop_sequences({"stop": []}) == ()
    assert stop_sequences({"stop": "\n"}) == ("\n",)
    assert stop_sequences({"stop": ["\n", "Question:"]}) == ("\n", "Question:")
    for bad in (["a"] * 5, [""], ["x" * 65], [3], 3):
        with pytest.raises(OpenAIRequestError) as caught:
            stop_sequences({"stop": bad})
        assert caught.value.param == "stop"


@pytest.mark.parametrize("given", [None, "", [], [""], [[101, 102]], 3])
def test_bad_embedding_inputs_are_400(given: object) -> None:
    with pytest.raises(OpenAIRequestError) as caught:
        embedding_inputs({"input": given})
    assert caught.value.param == "input"


def test_encoding_format() -> None:
    assert encoding_format({}) == "float" and encoding_format({"encoding_format": "base64"}) == "base64"
    with pytest.raises(OpenAIRequestError):
        encoding_format({"encoding_format": "int8"})


def test_pin_model_honours_the_named_model() -> None:
    pool = [candidate("me", "smollm2", local=True), candidate("g1", "gemma3-270m"), candidate("g2", "gemma3-270m")]
    assert pin_model(pool, "auto", NO_CONSTRAINTS) is NO_CONSTRAINTS
    assert pin_model(pool, None, NO_CONSTRAINTS) is NO_CONSTRAINTS
    assert pin_model(pool, "smollm2", NO_CONSTRAINTS).peer == "me"
    assert pin_model(pool, "gemma3-270m", NO_CONSTRAINTS).peer == "g1"
    assert pin_model(pool, "gemma3-270m", Constraints(peer="g2", budget_ms=5.0)) == Constraints(peer="g2", budget_ms=5.0)
    same = [candidate("me", "smollm2", local=True), candidate("s2", "smollm2")]
    assert pin_model(same, "smollm2", NO_CONSTRAINTS) is NO_CONSTRAINTS  # any choice is the named model


@pytest.mark.parametrize(("model", "constraints", "status"), [
    ("llama-70b", NO_CONSTRAINTS, 404), ("all-MiniLM-L6-v2", NO_CONSTRAINTS, 400),
    ("gemma3-270m", Constraints(peer="me"), 400), (5, NO_CONSTRAINTS, 400),
])
def test_pin_model_refusals(model: object, constraints: Constraints, status: int) -> None:
    pool = [candidate("me", "smollm2", local=True), candidate("g1", "gemma3-270m")]
    with pytest.raises(OpenAIRequestError) as caught:
        pin_model(pool, model, constraints)
    assert caught.value.status == status and caught.value.param == "model"


def test_model_list_names_each_model_once_with_its_peers_and_the_embedder() -> None:
    pool = [candidate("me", "smollm2", local=True), candidate("g1", "gemma3-270m"), candidate("s2", "smollm2")]
    out = model_list(pool, my_id="me", created=1700000000, embedder_loaded=False)
    by_id = {m["id"]: m for m in out["data"]}
    assert by_id["smollm2"]["peers"] == ["me", "s2"] and by_id["gemma3-270m"]["peers"] == ["g1"]
    assert by_id["all-MiniLM-L6-v2"]["kind"] == "embedding" and by_id["all-MiniLM-L6-v2"]["dimensions"] == 384
    assert all(m["object"] == "model" and m["created"] == 1700000000 for m in out["data"])
