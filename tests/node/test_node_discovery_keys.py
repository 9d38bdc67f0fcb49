"""Namespacing of the DHT provider keys and mDNS service names (pure functions, no network)."""

from __future__ import annotations

import pytest
from peermind.node.p2p.dht import DhtError, provider_key
from peermind.node.p2p.mdns import mdns_fingerprint


def test_provider_keys_are_sha256_multihashes_namespaced_by_network_and_kind() -> None:
    key = provider_key("blue", "model", "smollm2")
    raw = bytes.fromhex(key)
    assert raw[:2] == b"\x12\x20" and len(raw) == 34  # sha2-256 multihash: what ADD_PROVIDER accepts
    assert key == provider_key("blue", "model", "smollm2")
    others = {provider_key("green", "model", "smollm2"), provider_key("blue", "skill", "smollm2"),
              provider_key("blue", "model", "gemma3-270m")}
    assert key not in others and len(others) == 3


@pytest.mark.parametrize(("kind", "name"), [("colour", "x"), ("model", ""), ("skill", "x" * 129)])
def test_bad_provider_lookups_are_typed_errors(kind: str, name: str) -> None:
    with pytest.raises(DhtError):
        provider_key("blue", kind, name)


def test_mdns_service_label_fits_dns_sd_and_separates_networks() -> None:
    label = f"p2p-{mdns_fingerprint('a-network-name-of-32-characters-')}"
    assert len(label.encode()) <= 15  # zeroconf rejects longer service names
    assert mdns_fingerprint("blue") != mdns_fingerprint("green")
