"""Turning a request into prompt text, per model.

Chat-capable models get their own chat template (from the GGUF metadata,
rendered with llama-cpp-python's Jinja2ChatFormatter, as create_chat_completion
would). We render it ourselves rather than call create_chat_completion because
that path only returns log-probabilities with ``logits_all=True``, which costs a
full vocabulary projection per prompt token (5.7x slower prompts on Gemma-3).

Models without a template (Gemma-3-270M base returns empty text through chat
completion) get a plain question/answer prompt:

    {system messages, one per line}\\n\\n          (only if there are any)
    Question: {user}\\nAnswer: {assistant}\\n\\n    (each earlier exchange)
    Question: {last user message}\\nAnswer:

and stop at "\\nQuestion:" or a blank line, where a base model starts to
invent the next exchange.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import jinja2
from llama_cpp.llama_chat_format import Jinja2ChatFormatter
from peermind.protocol import ChatMessage, ProtocolError

from ._errors import InvalidRequest

ROLES = ("system", "user", "assistant")
QA_STOPS: tuple[str, ...] = ("\nQuestion:", "\n\n")


# The one message type from the HTTP API to the model is the wire's ChatMessage (role, content).
# What a direct caller of the backend may pass: the node's messages, or OpenAI-style dicts.
MessageInput = ChatMessage | Mapping[str, object]


def validate_messages(messages: object) -> tuple[ChatMessage, ...]:
    """Check a message list (ChatMessages, or OpenAI-style dicts turned into them here, once)."""
    if not isinstance(messages, Sequence) or isinstance(messages, str | bytes) or not messages:
        raise InvalidRequest(
            "messages must be a non-empty list of {'role': ..., 'content': ...} dicts"
        )
    checked: list[ChatMessage] = []
    for index, item in enumerate(messages):
        if isinstance(item, ChatMessage):
            checked.append(item)
            continue
        if not isinstance(item, Mapping):
            raise InvalidRequest(f"messages[{index}] must be a dict, got {type(item).__name__}")
        role, content = item.get("role"), item.get("content")
        if role not in ROLES:
            raise InvalidRequest(f"messages[{index}]['role'] is {role!r}; use one of {ROLES}")
        if not isinstance(content, str):
            raise InvalidRequest(
                f"messages[{index}]['content'] must be a string, got {type(content).__name__}"
            )
        try:
            checked.append(ChatMessage(role=str(role), content=content))
        except ProtocolError as exc:
            raise InvalidRequest(f"messages[{index}]: {exc}") from exc
    if not any(message.role == "user" for message in checked):
        raise InvalidRequest("messages need at least one 'user' message")
    return tuple(checked)


def qa_prompt(messages: Sequence[ChatMessage]) -> str:
    """The question/answer prompt for models without a chat template (see module doc)."""
    system = [m.content.strip() for m in messages if m.role == "system" and m.content.strip()]
    turns = [m for m in messages if m.role != "system"]
    if turns[-1].role != "user":
        raise InvalidRequest(
            "without a chat template the last non-system message must be from 'user'"
        )
    parts = ["\n".join(system) + "\n\n"] if system else []
    for message in turns:
        if message.role == "user":
            parts.append(f"Question: {message.content.strip()}\nAnswer:")
        else:
            parts.append(f" {message.content.strip()}\n\n")
    return "".join(parts)


class ChatTemplate:
    """A model's own chat template, rendered to text with the generation prompt appended."""

    def __init__(self, template: str, *, bos_token: str, eos_token: str) -> None:
        self._formatter = Jinja2ChatFormatter(
            template=template, eos_token=eos_token, bos_token=bos_token
        )

    def render(self, messages: Sequence[ChatMessage]) -> str:
        """Prompt text; it already carries any BOS the template wants (parse specials)."""
        payload = [{"role": m.role, "content": m.content} for m in messages]
        try:
            return self._formatter(messages=payload).prompt  # type: ignore[arg-type]
        except (jinja2.TemplateError, ValueError) as exc:
            raise InvalidRequest(f"the model's chat template rejected the messages: {exc}") from exc
