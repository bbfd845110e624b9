from .test_promises import Promises


def test_k() -> None:
    state = Promises()
    try:
        state.first_jobs(named=False, also_unnamed=True)
        state.kill_9_batch(
            after=False,
            flags=["--resubmit-not-found"],
            nth=1,
            state="xdg",
            then_processed=True,
            where="download",
        )
        state.paid_once()
        print("after kill 1", dict(state.accounts.created), state.accounts.served.keys())
        rec = state.out / ".flux-canny-tasks.jsonl"
        print(rec.read_text() if rec.exists() else "no record")
        state.kill_9_batch(
            after=False,
            flags=["--resubmit-uncertain"],
            nth=3,
            state="A",
            then_processed=False,
            where="submit",
        )
        print("after kill 2", dict(state.accounts.created), state.accounts.served.keys())
        print(
            [(r.method, r.path, r.task_id, r.fault) for r in state.fake.requests]
            if hasattr(state.fake, "requests")
            else ""
        )
        print(rec.read_text() if rec.exists() else "no record")
        state.paid_once()
    finally:
        state.teardown()
