"""What the adversary's fake saw and said, kept as the promises need it.

Every request the fake answers passes through `Accounts.saw` (the fake's `on_answer`
hook, under its lock, in arrival order). From that alone, never from the client's own
words, the accounts know: which task each submit created and for which job identity
(its endpoint and prompt: every identity in these tests has its own prompt, and a job
whose endpoint changed is another identity), the operation and cost of each task, whether the client could have
learnt that task's id, what the server told about each task (no image, not found,
expired), and which images it served, with their bytes.

The allowance of each identity is the user's word (asked) plus the server's positive word
(a task told Moderated / Error / Failed, or a submit refused with a 4xx) plus the pay-again flags the user passed where
they apply; promise (a) is: tasks created for an identity ≤ its allowance.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import attrs
import httpx
from flux_canny.fake import FakeBFL, RequestRecord

#: the prefix of every operation's path (the polls and the key's queries have others)
SUBMIT = "/v1/flux"
POLL = "/v1/get_result"
DOWNLOAD = "/results/"

#: statuses by which the server positively says a task ended without an image
NO_IMAGE = frozenset({"Content Moderated", "Request Moderated", "Error", "Failed"})
#: faults after which a submit's answer (its task id) may never have reached the client
ANSWER_LOST = frozenset({"drop", "slow", "malformed", "held"})


def _json(response: httpx.Response) -> Any:
    try:
        return json.loads(response.content)
    except ValueError:
        return None


def identity(endpoint: str, prompt: str) -> str:
    """A job's identity: its endpoint and its prompt (the content's key in these tests)."""
    return f"{endpoint} {prompt}"


@attrs.define
class Accounts:
    fake: FakeBFL
    #: every task created: its identity (endpoint and prompt)
    created: dict[str, str] = attrs.field(factory=dict)
    #: every task created: its operation, its cost, and when the fake ran it (start, end)
    operation_of: dict[str, str] = attrs.field(factory=dict)
    cost_of: dict[str, float] = attrs.field(factory=dict)
    span_of: dict[str, tuple[float, float]] = attrs.field(factory=dict)
    #: tasks the key was charged for (a request moderated at once is not)
    charged: set[str] = attrs.field(factory=set)
    #: tasks whose submit answer may not have told the client their id
    undelivered: set[str] = attrs.field(factory=set)
    #: tasks the server said ended without an image
    told_no_image: set[str] = attrs.field(factory=set)
    #: tasks whose submit the server answered with a refusal (4xx but 408): its word that
    #: it took no task, even where an adversary's server made one
    told_refused: set[str] = attrs.field(factory=set)
    #: tasks a poll answered "not found"; images a download refused (403/404/410)
    told_not_found: set[str] = attrs.field(factory=set)
    told_expired: set[str] = attrs.field(factory=set)
    #: the image bytes served for each task, and every serving in order
    served: dict[str, bytes] = attrs.field(factory=dict)
    serves: list[str] = attrs.field(factory=list)
    #: the user's word (a batch run naming the job, a library call) per identity
    asked: Counter[str] = attrs.field(factory=Counter)
    #: pay-again flags the user passed where they apply, per identity
    flagged: Counter[str] = attrs.field(factory=Counter)
    requests: int = 0

    def saw(self, record: RequestRecord, response: httpx.Response) -> None:
        """The fake's on_answer hook: one request and the answer it got."""
        self.requests += 1
        task_id = record.task_id
        if task_id is None:
            return
        if (
            record.path.startswith(SUBMIT)
            and record.method == "POST"
            and task_id in self.fake.tasks
        ):
            if task_id not in self.created:
                task = self.fake.tasks[task_id]
                self.created[task_id] = identity(task.operation, str(task.body.get("prompt")))
                self.operation_of[task_id] = task.operation
                self.cost_of[task_id] = self.fake.cost_per_task
                self.span_of[task_id] = (task.created_at, task.created_at + task.duration)
                if task.outcome != "Request Moderated":
                    self.charged.add(task_id)
                body = _json(response)
                told = isinstance(body, dict) and body.get("id") == task_id
                if record.fault in ANSWER_LOST or response.status_code != 200 or not told:
                    self.undelivered.add(task_id)
                refused = 400 <= response.status_code < 500 and response.status_code != 408
                if refused and record.fault in (None, "answer", "status"):
                    self.told_refused.add(task_id)
            return
        if record.path == POLL:
            body = _json(response)
            status = body.get("status") if isinstance(body, dict) else None
            status = status if isinstance(status, str) else None  # a hostile {"status": []}
            if status in NO_IMAGE and record.fault not in ("connect", "drop"):
                self.told_no_image.add(task_id)
            if response.status_code == 404 or status == "Task not found":
                self.told_not_found.add(task_id)
            return
        if record.path.startswith(DOWNLOAD):
            # "held": its process was killed while it was held; the image may be lost
            if response.status_code == 200 and record.fault in (None, "held"):
                self.serves.append(task_id)
                self.served[task_id] = response.content
            elif response.status_code in (403, 404, 410):
                self.told_expired.add(task_id)

    # -- the allowance ---------------------------------------------------------------------

    def tasks_of(self, prompt: str) -> list[str]:
        return [t for t, p in self.created.items() if p == prompt]

    def allowance(self, prompt: str) -> int:
        told = self.told_no_image | self.told_refused
        positive = sum(1 for t in self.tasks_of(prompt) if t in told)
        return self.asked[prompt] + positive + self.flagged[prompt]

    def overpaid(self) -> dict[str, tuple[int, int]]:
        """Identities with more tasks than their allowance: {prompt: (paid, allowed)}."""
        paid = Counter(self.created.values())
        return {p: (n, self.allowance(p)) for p, n in paid.items() if n > self.allowance(p)}

    def served_since(self, mark: int) -> set[str]:
        """Tasks whose image was served since `mark` (a len(serves) taken earlier)."""
        return set(self.serves[mark:])

    def makers_of(self, data: bytes) -> set[str]:
        """The identities whose served image these bytes are (two jobs of one control
        image and seed may be served the same picture)."""
        return {self.created[t] for t, image in self.served.items() if image == data}

    def most_at_once(self, tasks: set[str]) -> int:
        """The most of `tasks` the fake was running at one moment."""
        events = sorted(
            (moment, step)
            for task in tasks
            for moment, step in zip(self.span_of[task], (1, -1), strict=True)
            if self.span_of[task][1] > self.span_of[task][0]
        )
        running = most = 0
        for _, step in events:  # an end sorts before a start at the same moment
            running += step
            most = max(most, running)
        return most
