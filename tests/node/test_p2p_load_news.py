"""A changed queue depth is announced once it lasts, at most every interval; blips cost no ad."""

from __future__ import annotations

from peermind.node.p2p.load_news import DepthNews


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_change_goes_out_at_once_then_at_most_once_per_interval_and_a_blip_not_at_all() -> None:
    clock = Clock()
    news = DepthNews(0, min_interval_s=5.0, clock=clock)
    assert not news.due(0)  # nothing changed
    assert news.due(1)  # the first change: announced at once
    clock.now += 1.0
    assert not news.due(0)  # back to idle within the interval: held
    clock.now += 1.0
    assert not news.due(1)  # and busy again: what was announced, nothing to say
    clock.now += 3.0
    assert not news.due(1)  # the blip to 0 and back never went out
    assert news.due(2)  # a real change after the interval
    clock.now += 4.9
    assert not news.due(0)
    clock.now += 0.1
    assert news.due(0)  # still idle when the interval ends: announced
