"""Adversaries that attack the wire: ``forger`` and ``flooder``.

- forger: sends task requests with broken signatures, replays task requests other peers
  sent it (to third peers) and its own requests (to the same peer twice), republishes
  other peers' captured ads as its own gossip, and publishes ads with broken signatures.
  It records whether any forged or replayed task was answered (it must never be).
- flooder: sends valid, expensive task requests to every peer it knows as fast as
  ``PEERMIND_FLOOD_RATE`` (default 20/s) allows, ignoring refusals and retry hints, and
  counts the outcomes (results, refusals by reason, failures).
"""

from __future__ import annotations

import itertools
import logging
import os
import random
from collections import deque
from typing import Any

import trio
from libp2p.custom_types import TProtocol
from libp2p.peer.id import ID
from peermind.node.extension import (
    TASK_PROTOCOL,
    BadReply,
    PeerCallError,
    PeerTimeout,
    TaskRefused,
    ads_topic,
    make_request,
)
from peermind.protocol import (
    ChatMessage,
    Envelope,
    ProtocolError,
    TaskRefusal,
    TaskResult,
    Verifier,
    read_frame,
    seal,
    write_frame,
)

from ._adversary_base import AdversaryNode

log = logging.getLogger("peermind.testnet.adversary")

__all__ = ["FlooderNode", "ForgerNode", "corrupt_signature"]

FORGER_ACTIONS = ("bad_signature_task", "replay_other_task", "replay_own_task", "replay_other_ad", "forged_ad")
STREAM_TIMEOUT_S = 5.0


def corrupt_signature(envelope: bytes) -> bytes:
    """The same envelope with one bit of its 64-byte signature (the last bytes) flipped."""
    return envelope[:-1] + bytes([envelope[-1] ^ 0x01])


class CapturingVerifier(Verifier):
    """A verifier that keeps copies of verified ads and task requests (material to replay)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ads: deque[tuple[str, bytes]] = deque(maxlen=64)
        self.requests: deque[tuple[str, bytes]] = deque(maxlen=64)

    def open(self, data: bytes, **kwargs: Any) -> Envelope:
        envelope = super().open(data, **kwargs)
        if envelope.msg_type == "ad.capability":
            self.ads.append((envelope.sender_b58, bytes(data)))
        elif envelope.msg_type == "task.request":
            self.requests.append((envelope.sender_b58, bytes(data)))
        return envelope


class ForgerNode(AdversaryNode):
    role = "forger"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.verifier = CapturingVerifier(max_skew_s=self.config.limits.clock_skew_s,
                                          max_frame_bytes=self.config.limits.max_frame_bytes)
        self._rng = random.Random(os.getpid())

    async def attack(self) -> None:
        interval = float(os.environ.get("PEERMIND_FORGER_INTERVAL_S", "0.5"))
        # Targets in turn, shifted by one each pass over the actions: over n passes every one of n peers
        # gets every action once (a random pick once sent one of two peers 2 forged requests, too few to ban).
        for turn, action in enumerate(itertools.cycle(FORGER_ACTIONS)):
            if self.attack_over():
                return
            if self.paused():
                await trio.sleep(0.2)
                continue
            peers = self.known_peers()
            if peers:
                rounds, index = divmod(turn, len(FORGER_ACTIONS))
                target = peers[(rounds + index) % len(peers)]  # action k of pass p: peer (p + k) mod n
                try:
                    await getattr(self, action)(target)
                except Exception as exc:
                    log.info("forger action failed", extra={"action": action, "error": repr(exc)})
                    self.stats.count(f"{action}:error")
            await trio.sleep(interval)

    # ------------------------------------------------------------------ tasks
    def _request_bytes(self, target: str) -> bytes:
        req = make_request(kind="score", prompt="Question: Is the sky blue?\nAnswer:",
                           continuations=[" yes", " no"], timeout_s=20.0)
        return seal(self.signer, req, target)

    async def _send_raw(self, target: str, frame: bytes, action: str, *, forged: bool = True) -> str:
        """Send one frame on the task protocol; count what came back (a forged one must never be answered).

        ``undelivered``: no stream could be opened or the frame not written (the target
        had disconnected us); ``rejected``: written, then reset without a reply (the
        receiver's verification failed); ``refused:<reason>``: a typed refusal.
        """
        assert self.host is not None
        outcome = "undelivered"
        try:
            with trio.fail_after(STREAM_TIMEOUT_S):
                stream = await self.host.new_stream(ID.from_base58(target), [TProtocol(TASK_PROTOCOL)])
                await write_frame(stream, frame, timeout_s=STREAM_TIMEOUT_S)
                outcome = "rejected"
                try:
                    data = await read_frame(stream, timeout_s=STREAM_TIMEOUT_S)
                except ProtocolError:
                    data = b""
                if data:
                    body = self.verifier.open(data).body
                    if isinstance(body, TaskResult):
                        outcome = "ACCEPTED" if forged else "answered"
                        if forged:
                            log.error("a forged or replayed task was answered", extra={"action": action, "peer": target})
                    elif isinstance(body, TaskRefusal):
                        outcome = f"refused:{body.reason}"
                try:
                    await stream.reset()
                except Exception:
                    pass
        except trio.TooSlowError:
            outcome = "timeout" if outcome == "rejected" else outcome
        except Exception:
            pass  # the outcome reached so far stands
        self.stats.count(f"{action}:sent")
        self.stats.count(f"{action}:{outcome}")
        return outcome

    async def bad_signature_task(self, target: str) -> None:
        await self._send_raw(target, corrupt_signature(self._request_bytes(target)), "bad_signature_task")

    async def replay_other_task(self, target: str) -> None:
        captured = [data for sender, data in self.verifier.requests if sender != target]  # type: ignore[attr-defined]
        if not captured:
            return
        await self._send_raw(target, self._rng.choice(captured), "replay_other_task")

    async def replay_own_task(self, target: str) -> None:
        frame = self._request_bytes(target)
        first = await self._send_raw(target, frame, "own_task_original", forged=False)
        if first != "undelivered":  # only a second copy of a delivered envelope is a replay
            await self._send_raw(target, frame, "replay_own_task")

    # ------------------------------------------------------------------ gossip
    async def _publish(self, data: bytes, action: str) -> None:
        pubsub = self.gossip.pubsub if self.gossip is not None else None
        if pubsub is None:
            return
        await pubsub.publish(ads_topic(self.config.network), data)
        self.stats.count(f"{action}:sent")

    async def replay_other_ad(self, _target: str) -> None:
        ads = [data for sender, data in self.verifier.ads if sender != self.peer_id]  # type: ignore[attr-defined]
        if ads:
            await self._publish(self._rng.choice(ads), "replay_other_ad")

    async def forged_ad(self, _target: str) -> None:
        ad = await self.make_ad()
        topic = ads_topic(self.config.network)
        await self._publish(corrupt_signature(seal(self.signer, ad, topic)), "forged_ad")


class FlooderNode(AdversaryNode):
    role = "flooder"

    async def attack(self) -> None:
        rate = float(os.environ.get("PEERMIND_FLOOD_RATE", "20"))
        limit = trio.Semaphore(int(os.environ.get("PEERMIND_FLOOD_IN_FLIGHT", "64")))
        async with trio.open_nursery() as nursery:
            for i in itertools.count():
                if self.attack_over():
                    break
                if self.paused():
                    await trio.sleep(0.2)
                    continue
                peers = self.known_peers()
                if peers:
                    await limit.acquire()
                    nursery.start_soon(self._one, peers[i % len(peers)], limit)
                await trio.sleep(1.0 / rate)

    async def _one(self, target: str, limit: trio.Semaphore) -> None:
        try:
            req = make_request(kind="generate", messages=[ChatMessage(role="user", content=
                               "Write a very long and detailed essay about the history of every country.")],
                               max_tokens=256, timeout_s=20.0)
            try:
                await self.tasks.request(ID.from_base58(target), req)
                outcome = "result"
            except TaskRefused as exc:
                outcome = f"refused:{exc.reason}"
            except PeerTimeout:
                outcome = "timeout"
            except BadReply:
                outcome = "bad_reply"
            except PeerCallError:
                outcome = "failed"
            except Exception:  # unreachable, disconnected, ...
                outcome = "failed"
            self.stats.count("requests")
            self.stats.count(outcome)
        finally:
            limit.release()
