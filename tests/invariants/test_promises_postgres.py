"""The three promises on the shared ledger: the invariants issue's state machine with every
run, call and killed process writing one PostgreSQL database (issue 32).

The four state folders stand for four machines now: each keeps its own kept images, and
all of them share the database's rows, claims and leases. A killed run's lease lapses
after a second, so the runs after it take its jobs over as a fleet would.
"""

from __future__ import annotations

import psycopg
from flux_canny.ledger import Ledger
from hypothesis import Phase, settings
from hypothesis.stateful import invariant, run_state_machine_as_test

from .._postgres import PostgresServer
from ._sinks import KEY
from .test_promises import Promises, _budget

#: examples of the PostgreSQL machine, against the SQLite one's (each makes a database)
_SHARE = {"ci": 0.2, "thorough": 0.25}


class PromisesOnPostgres(Promises):
    server_pg: PostgresServer

    def __init__(self) -> None:
        super().__init__()
        self.ledger_url = self.server_pg.database()
        with Ledger(self.ledger_url) as ledger:  # its schema, so that every check can read it
            ledger.entries()

    def _state_env(self, state: str) -> dict[str, str]:
        return super()._state_env(state) | {
            "FLUX_CANNY_LEDGER": self.ledger_url,
            "FLUX_CANNY_LEASE": "1",
        }

    @invariant()
    def key_not_in_the_database(self) -> None:
        with psycopg.connect(self.ledger_url, connect_timeout=10) as conn:
            rows = conn.execute("SELECT coalesce(string_agg(t::text, ''), '') FROM tasks t")
            dump = rows.fetchone()
        assert dump is not None and KEY not in dump[0], "(c) the key is in the ledger's database"


def test_the_promises_hold_on_a_shared_postgresql_ledger(postgres_server: PostgresServer) -> None:
    examples, steps, _ = _budget()
    share = _SHARE.get(settings._current_profile or "", 0.5)
    current = settings.get_profile(settings._current_profile or "default")
    phases = current.phases
    if settings._current_profile == "ci":  # the budget: a failure is reported, not shrunk
        phases = tuple(p for p in phases if p is not Phase.shrink)
    PromisesOnPostgres.server_pg = postgres_server
    run_state_machine_as_test(
        PromisesOnPostgres,
        settings=settings(
            current,
            max_examples=max(1, int(examples * share)),
            stateful_step_count=steps,
            phases=phases,
        ),
    )
