"""Priority slots: best priority first, FIFO within one, preemption flags, cancellation safety."""

from __future__ import annotations

import trio
import trio.testing
from peermind.node.llm._slots import PrioritySlots


async def test_waiters_are_served_by_priority_then_arrival() -> None:
    slots = PrioritySlots(1)
    holder = await slots.acquire(0)
    order: list[str] = []

    async def wait(name: str, priority: int) -> None:
        running = await slots.acquire(priority)
        order.append(name)
        slots.release(running)

    async with trio.open_nursery() as nursery:
        for name, priority in [("newcomer-1", 2), ("trusted", 1), ("newcomer-2", 2), ("own", 0)]:
            nursery.start_soon(wait, name, priority)
            await trio.testing.wait_all_tasks_blocked()
        assert slots.waiting == 4
        slots.release(holder)
    assert order == ["own", "trusted", "newcomer-1", "newcomer-2"]


async def test_a_more_urgent_waiter_flags_the_least_urgent_preemptible_task() -> None:
    slots = PrioritySlots(2)
    trusted = await slots.acquire(1, preemptible=False)
    newcomer = await slots.acquire(2, preemptible=True)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(slots.acquire, 2)  # an equal priority never preempts
        await trio.testing.wait_all_tasks_blocked()
        assert not newcomer.yield_flag.is_set()
        nursery.start_soon(slots.acquire, 0)
        await trio.testing.wait_all_tasks_blocked()
        assert newcomer.yield_flag.is_set() and not trusted.yield_flag.is_set()
        assert slots.preempted == 1
        nursery.cancel_scope.cancel()


async def test_a_cancelled_waiter_never_leaks_its_slot() -> None:
    slots = PrioritySlots(1)
    holder = await slots.acquire(0)
    with trio.move_on_after(0.01):
        await slots.acquire(1)
    slots.release(holder)
    # the slot is free again for the next caller, at once
    with trio.fail_after(1):
        again = await slots.acquire(5)
    slots.release(again)
    assert slots.waiting == 0


async def test_only_work_that_runs_first_counts_as_ahead_of_a_task() -> None:
    """A queue full of unproven peers' preemptible generations is no wait for the node's own
    user or a trusted peer (a Sybil flock admitted by the newcomer pool used to make honest
    tasks look late, so they were refused 'deadline' or 'busy' behind work they would cut short)."""
    slots = PrioritySlots(1)
    newcomer = await slots.acquire(2, preemptible=True)
    async with trio.open_nursery() as nursery:
        for _ in range(3):
            nursery.start_soon(slots.acquire, 2)
        await trio.testing.wait_all_tasks_blocked()
        assert slots.ahead_of(2) == 4  # another newcomer waits behind all of them
        assert slots.ahead_of(1) == 0 and slots.ahead_of(0) == 0
        nursery.start_soon(slots.acquire, 1)
        await trio.testing.wait_all_tasks_blocked()
        assert slots.ahead_of(0) == 0 and slots.ahead_of(1) == 1
        nursery.cancel_scope.cancel()
    slots.release(newcomer)
    trusted = await slots.acquire(1)
    assert slots.ahead_of(0) == 1  # running work that cannot be cut short counts
    slots.release(trusted)

