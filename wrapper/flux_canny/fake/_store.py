"""The fake's tasks as owned state: what exists, per key what is running, what falls due.

A TaskStore keeps the in-memory tasks and every index over them (active tasks per key by
end time, webhooks by when they fall due, every task by when it is forgotten, the drawn
samples), so the pieces that create and answer tasks (`_tasks`, `_answers`, `_webhooks`)
share it without reaching into FakeBFL. O(log n) per request in the tasks held.
"""

from __future__ import annotations

import heapq
import uuid
from collections import Counter, deque

import attrs

from ..clock import Clock
from ._records import FakeTask

__all__ = ["TaskStore"]


@attrs.define(eq=False)
class TaskStore:
    """Every task the fake holds, until `retention` (fake time) after its creation."""

    clock: Clock
    #: seconds a task is kept after its creation (live: about an hour)
    retention: float
    #: the last task id's integer: ids are consecutive UUIDs from a seed
    ids: int
    tasks: dict[str, FakeTask] = attrs.field(factory=dict)
    #: tasks created per key
    created: Counter[str] = attrs.field(factory=Counter)
    #: final statuses for the next tasks, in order (default "Ready")
    outcomes: deque[str] = attrs.field(factory=deque)
    #: each task's sample, drawn on its first download: (bytes, format)
    renders: dict[str, tuple[bytes, str]] = attrs.field(factory=dict)
    #: the task the current submit made (None until one is)
    last_created: str | None = None
    _active: dict[str, list[tuple[float, str]]] = attrs.field(factory=dict)
    _webhooks_due: list[tuple[float, str]] = attrs.field(factory=list)
    _forget_at: deque[tuple[float, str]] = attrs.field(factory=deque)

    def active(self, key: str) -> int:
        """Tasks of `key` not finished yet (the cap of active tasks counts them)."""
        now = self.clock.monotonic()
        running = self._active.setdefault(key, [])
        while running and running[0][0] <= now:
            heapq.heappop(running)
        return len(running)

    def forget_old(self) -> None:
        """Results are kept about an hour on the live API; so here, in fake time."""
        now = self.clock.monotonic()
        while self._forget_at and self._forget_at[0][0] <= now:
            _, task_id = self._forget_at.popleft()
            self.tasks.pop(task_id, None)
            self.renders.pop(task_id, None)

    def next_id(self) -> str:
        self.ids += 1
        return str(uuid.UUID(int=self.ids & (2**128 - 1)))

    def next_outcome(self) -> str:
        return self.outcomes.popleft() if self.outcomes else "Ready"

    def add(self, task: FakeTask) -> None:
        """Hold `task`: running until its duration is up, forgotten after `retention`."""
        self.tasks[task.id] = task
        ends = task.created_at + task.duration
        heapq.heappush(self._active.setdefault(task.key, []), (ends, task.id))
        if task.webhook_url:
            heapq.heappush(self._webhooks_due, (ends, task.id))
        self._forget_at.append((task.created_at + self.retention, task.id))
        self.created[task.key] += 1
        self.last_created = task.id

    def due_webhooks(self) -> list[FakeTask]:
        """The tasks whose webhook falls due now, each once."""
        now = self.clock.monotonic()
        due = []
        while self._webhooks_due and self._webhooks_due[0][0] <= now:
            _, task_id = heapq.heappop(self._webhooks_due)
            task = self.tasks.get(task_id)
            if task is not None and not task.webhook_sent:
                task.webhook_sent = True
                due.append(task)
        return due
