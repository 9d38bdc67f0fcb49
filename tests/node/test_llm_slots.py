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
