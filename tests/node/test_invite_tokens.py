"""Signed, expiring invite tokens (node/invite.py): what a joiner accepts and refuses."""

from __future__ import annotations

import base64
import json

import pytest
from peermind.node.errors import ConfigError
from peermind.node.invite import (
    InviteDamaged,
    InviteExpired,
    InviteForged,
    make_invite,
    read_invite,
)
from peermind.protocol import Signer

ADDR = "/ip4/127.0.0.1/tcp/4001/p2p/"
NOW = 1_800_000_000.0


def _token(signer: Signer, **kw: object) -> str:
    return make_invite(signer, "blue", [ADDR + signer.peer_id_b58], now=NOW, **kw)  # type: ignore[arg-type]


def test_a_token_names_its_inviter_and_expires() -> None:
    signer = Signer.generate()
    invite = read_invite(_token(signer, ttl_s=3600, secret="club-secret"), now=NOW + 10)
    assert (invite.network, invite.inviter, invite.secret) == ("blue", signer.peer_id_b58, "club-secret")
    assert invite.addrs == [ADDR + signer.peer_id_b58] and invite.expires_at == NOW + 3600
    assert read_invite(_token(signer), now=NOW).secret is None  # open network: no secret in it
    with pytest.raises(InviteExpired, match="expired"):
        read_invite(_token(signer, ttl_s=60), now=NOW + 61)
    with pytest.raises(ConfigError):
        make_invite(signer, "blue", [], ttl_s=0)


def _rewrite(token: str, change: dict[str, object]) -> str:
    head, payload, sig = token[:5], *token[5:].split(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    data.update(change)
    raw = json.dumps(data, separators=(",", ":")).encode()
    return head + base64.urlsafe_b64encode(raw).decode().rstrip("=") + "." + sig


def test_an_altered_or_resigned_token_is_forged() -> None:
    signer, attacker = Signer.generate(), Signer.generate()
    token = _token(signer)
    for change in ({"x": NOW + 10**7}, {"n": "red"}, {"a": ["/ip4/6.6.6.6/tcp/1/p2p/" + attacker.peer_id_b58]}):
        with pytest.raises(InviteForged, match="does not verify"):
            read_invite(_rewrite(token, change), now=NOW)
    # the attacker's own signature does not pass for the inviter it names
    theirs = _token(attacker)
    head, payload, _sig = token[:5], *token[5:].split(".")
    with pytest.raises(InviteForged):
        read_invite(head + payload + "." + theirs[5:].split(".")[1], now=NOW)


@pytest.mark.parametrize("token", ["hello", "pmi1.eyJuIjoiYmx1ZSIsImEiOltdfQ", "pmi2.", "pmi2.abc", "pmi2.!!.??",
                                   "pmi2." + base64.urlsafe_b64encode(b'{"v":2}').decode() + ".AA"])
def test_damaged_tokens_are_refused_with_one_typed_line(token: str) -> None:
    with pytest.raises(InviteDamaged) as info:
        read_invite(token, now=NOW)
    assert "\n" not in str(info.value) and str(info.value).startswith("--join:")
