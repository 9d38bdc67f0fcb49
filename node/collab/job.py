"""A job: what to run (generate text or score choices), independent of who runs it."""

from __future__ import annotations

from dataclasses import dataclass, replace

from peermind.protocol import ChatMessage, TaskRequest

from ..p2p.tasks import make_request


@dataclass(frozen=True)
class Job:
    """What to run, independent of who runs it.

    ``messages`` are the wire's ChatMessages from the API parse on: the same objects travel
    in the TaskRequest and reach the model, with no change of shape on the way.
    """

    kind: str  # generate | score
    messages: tuple[ChatMessage, ...] = ()
    prompt: str = ""
    continuations: tuple[str, ...] = ()
    max_tokens: int = 128
    temperature: float = 0.0
    stop: tuple[str, ...] = ()  # generation ends before any of these (OpenAI's stop)
    evidence: bool = False  # ask a knowledge peer for its passages too (if its policy shares them)

    @classmethod
    def question(cls, text: str, *, max_tokens: int = 128, temperature: float = 0.0) -> Job:
        """A generate job of one user turn (``peermind ask``, seed items, canaries)."""
        return cls(kind="generate", messages=(ChatMessage(role="user", content=text),),
                   max_tokens=max_tokens, temperature=temperature)

    @property
    def text(self) -> str:
        """All the job's text (prompt, or message contents), for size estimates."""
        return self.prompt or "\n".join(m.content for m in self.messages)

    @property
    def is_choice(self) -> bool:
        """Whether the job scores choices (multiple choice) rather than generating text."""
        return self.kind == "score"

    def with_temperature(self, temperature: float) -> Job:
        """The same job sampled at ``temperature``."""
        return replace(self, temperature=temperature)

    def to_request(self, timeout_s: float, *, task_id: bytes | None = None) -> TaskRequest:
        """The wire TaskRequest for this job, due within ``timeout_s``."""
        req = make_request(
            kind=self.kind,
            messages=self.messages,
            prompt=self.prompt,
            continuations=list(self.continuations),
            max_tokens=self.max_tokens if self.kind == "generate" else 1,
            temperature=self.temperature,
            timeout_s=timeout_s,
        )
        req = replace(req, stop=list(self.stop)) if self.stop else req
        req = replace(req, evidence=True) if self.evidence else req
        return replace(req, task_id=task_id) if task_id is not None else req
