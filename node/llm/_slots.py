"""Model slots handed out by priority, with preemption of low-priority generations.

A node's model serves its own user, trusted peers and unproven peers from the same
slots. First-come-first-served lets a burst of long generations from an unproven peer
(a newcomer, or a flooder before it is caught) hold the model for seconds while this
node's own user waits. Here waiters are served by (priority, arrival), lower first, and
a waiter may ask running work of a worse priority that was started as *preemptible* to
stop at its next token boundary (``Running.yield_flag``, read by the engine's sampling
loop in its worker thread; a ``threading.Event`` because that loop runs in a thread).
"""

from __future__ import annotations

import heapq
import itertools
import threading
from dataclasses import dataclass, field

import trio

__all__ = ["PrioritySlots", "Running"]


@dataclass(eq=False)
class Running:
    """One task holding a slot."""

    priority: int
    preemptible: bool
    yield_flag: threading.Event = field(default_factory=threading.Event)


@dataclass(order=True)
class _Waiter:
    priority: int
    seq: int
    event: trio.Event = field(compare=False, default_factory=trio.Event)
    granted: bool = field(compare=False, default=False)
    gone: bool = field(compare=False, default=False)


class PrioritySlots:
    """``total`` slots; ``acquire(priority)`` returns a ``Running`` once one is free for it."""

    def __init__(self, total: int) -> None:
        self._free = total
        self._waiters: list[_Waiter] = []
        self._seq = itertools.count()
        self.running: list[Running] = []
        self.preempted = 0

    @property
    def waiting(self) -> int:
        return sum(1 for w in self._waiters if not w.gone)

    def ahead_of(self, priority: int) -> int:
        """Tasks that would hold a slot before a new task of ``priority``: waiters at least as
        urgent, and running tasks it cannot cut short (not preemptible, or not worse than it).

        A node's queue full of unproven peers' preemptible work is no wait for its own user's
        or a trusted peer's task, so deadline and queue-full checks must not count it."""
        waiting = sum(1 for w in self._waiters if not w.gone and w.priority <= priority)
        running = sum(1 for r in self.running if not (r.preemptible and r.priority > priority))
        return waiting + running

    async def acquire(self, priority: int, *, preemptible: bool = False) -> Running:
        """Wait for a slot (best priority first, FIFO within one); cancellation-safe."""
        if self._free > 0 and not self.waiting:
            await trio.lowlevel.checkpoint_if_cancelled()  # never yields: the slot is still free
            self._free -= 1
            return self._hold(priority, preemptible)
        waiter = _Waiter(priority, next(self._seq))
        heapq.heappush(self._waiters, waiter)
        self._preempt_for(priority)
        try:
            await waiter.event.wait()
        except BaseException:
            waiter.gone = True
            if waiter.granted:  # the slot arrived as we were cancelled: pass it on
                self._release_slot()
            raise
        return self._hold(priority, preemptible)

    def release(self, running: Running) -> None:
        self.running.remove(running)
        self._release_slot()

    def _hold(self, priority: int, preemptible: bool) -> Running:
        running = Running(priority, preemptible)
        self.running.append(running)
        return running

    def _release_slot(self) -> None:
        while self._waiters:
            waiter = heapq.heappop(self._waiters)
            if not waiter.gone:
                waiter.granted = True
                waiter.event.set()
                return
        self._free += 1

    def _preempt_for(self, priority: int) -> None:
        """Ask the least urgent preemptible task worse than ``priority`` to stop early."""
        if self._free > 0:
            return
        victims = [r for r in self.running
                   if r.preemptible and r.priority > priority and not r.yield_flag.is_set()]
        if victims:
            max(victims, key=lambda r: r.priority).yield_flag.set()
            self.preempted += 1
