"""Light nodes' pure parts: the config they run with and a backend that loads nothing."""

from __future__ import annotations

import pytest
from peermind.node.config import load_config
from peermind.node.light import NO_MODEL, NoModelServed, is_light, light_config, load_light_backend


def test_a_light_node_checks_nobody_itself() -> None:
    cfg = load_config(None, {}, {"llm.model": NO_MODEL, "trust.probe_interval_s": "5", "trust.canary_rate": "0.5"})
    assert is_light(cfg) and not is_light(load_config(None, {}, {}))
    light = light_config(cfg)
    assert light.trust.canary_rate == 0 and light.trust.probe_interval_s == 0 and light.trust.cross_check_rate == 0
    assert light.router.learn_interval_s == 0
    assert light.trust.enabled and light.network == cfg.network  # trust still judges what it sees


async def test_the_light_backend_loads_nothing_and_refuses_work() -> None:
    cfg = load_config(None, {}, {"llm.model": NO_MODEL})
    backend = await load_light_backend(cfg)
    try:
        assert backend.profile.name == NO_MODEL and backend.queue_depth == 0
        assert backend.measurement is not None and backend.measurement.gen_tps == 0
        with pytest.raises(NoModelServed):
            await backend.score("Question: 2 + 2?\nAnswer:", [" 4", " 5"])
    finally:
        await backend.aclose()
