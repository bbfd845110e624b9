"""The task journal: merged records, crash-cut lines, concurrent writers, bounded size."""

from __future__ import annotations

import stat
import threading
import time

from flux_canny import journal as journal_module
from flux_canny.journal import Journal


def test_records_merge_by_task_and_newest_submit_comes_first(tmp_path):
    journal = Journal(tmp_path / "tasks.jsonl")
    journal.record_submit("a", polling_url="https://api/a", base_url="https://api", prompt="p")
    journal.record_submit("b", polling_url="https://api/b", base_url="https://api")
    journal.record_outcome("a", "ready", output=tmp_path / "a.png", seed=3, unknown="dropped")
    first, second = journal.entries()
    assert (first.id, first.status, first.is_open) == ("b", "submitted", True)
    assert (second.id, second.status, second.seed, second.is_open) == ("a", "ready", 3, False)
    assert second.output == str(tmp_path / "a.png") and second.polling_url == "https://api/a"
    assert journal.find("a") == second and journal.find("zzz") is None
    assert stat.S_IMODE((tmp_path / "tasks.jsonl").stat().st_mode) == 0o600


def test_a_line_cut_short_by_a_crash_is_skipped(tmp_path):
    path = tmp_path / "tasks.jsonl"
    journal = Journal(path)
    journal.record_submit("a", polling_url=None, base_url="x")
    with path.open("a") as handle:
        handle.write('{"id": "b", "status": "subm')
    assert [e.id for e in journal.entries()] == ["a"]


def test_concurrent_writers_interleave_whole_lines(tmp_path):
    journal = Journal(tmp_path / "tasks.jsonl")

    def write(worker):
        for i in range(100):
            journal.record_submit(f"{worker}-{i}", polling_url="u" * 300, base_url="b")

    threads = [threading.Thread(target=write, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(journal.entries()) == 400


def test_the_file_is_compacted_to_the_newest_tasks(tmp_path, monkeypatch):
    monkeypatch.setattr(journal_module, "_COMPACT_BYTES", 20_000)
    monkeypatch.setattr(journal_module, "_KEEP_AFTER_COMPACT", 10)
    journal = Journal(tmp_path / "tasks.jsonl")
    for i in range(200):
        journal.record_submit(f"t{i}", polling_url="u", base_url="b", prompt="x" * 50)
    assert (tmp_path / "tasks.jsonl").stat().st_size < 25_000
    ids = [e.id for e in journal.entries()]
    assert ids[0] == "t199" and len(ids) < 200


def test_the_state_dir_comes_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("FLUX_CANNY_STATE_DIR", str(tmp_path / "s"))
    assert Journal().path == tmp_path / "s" / "tasks.jsonl"


def test_a_journal_that_cannot_be_written_raises_or_reports(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    strict = Journal(blocker / "tasks.jsonl")
    try:
        strict.record_submit("a", polling_url=None, base_url="b")
    except OSError:
        pass
    else:
        raise AssertionError("expected OSError")
    seen = []
    lenient = Journal(blocker / "tasks.jsonl", on_error=seen.append)
    lenient.record_submit("a", polling_url=None, base_url="b")
    lenient.record_outcome("a", "ready")
    assert len(seen) == 2 and all(isinstance(e, OSError) for e in seen)


def test_a_record_written_while_another_writer_compacts_is_kept(tmp_path, monkeypatch):
    monkeypatch.setattr(journal_module, "_COMPACT_BYTES", 2_000)
    path = tmp_path / "tasks.jsonl"
    compactor, other = Journal(path), Journal(path)
    for i in range(15):
        compactor.record_submit(f"t{i}", polling_url="u", base_url="b", prompt="x" * 60)
    read_done = threading.Event()
    entries = Journal.entries

    def slow_entries(self, limit=None):  # compaction has read the file and is rewriting it
        found = entries(self, limit)
        if self is compactor:
            read_done.set()
            time.sleep(0.3)  # ample time for the other writer's append to land
        return found

    monkeypatch.setattr(Journal, "entries", slow_entries)
    late = threading.Thread(
        target=lambda: (
            read_done.wait(5),
            other.record_submit("late", polling_url="u", base_url="b"),
        )
    )
    late.start()
    compactor.record_submit("trigger", polling_url="u", base_url="b", prompt="x" * 60)
    late.join()
    monkeypatch.setattr(Journal, "entries", entries)
    assert read_done.is_set() and {"late", "trigger"} <= {e.id for e in other.entries()}
