"""runlog._store.journal: the store's change journal names changed runs; a replaced journal is never taken for the old one."""

from __future__ import annotations

import os
from pathlib import Path

from runlog._store import journal


def _run_dir(store: Path, name: str) -> Path:
    path = store / "experiments" / "exp" / "runs" / name
    path.mkdir(parents=True)
    return path


def test_lines_are_read_once_with_the_offset_of_each_runs_last_line(tmp_path: Path) -> None:
    """read_since returns each key with the end of its last line, then only what was appended since."""
    a, b = _run_dir(tmp_path, "a"), _run_dir(tmp_path, "b")
    keys, position = journal.read_since(tmp_path, None)
    assert keys is None and position is None  # no journal yet
    journal.note(a)
    journal.note(b)
    journal.note(a)
    keys, position = journal.read_since(tmp_path, None)
    assert keys is None and position is not None  # a first look: where the journal ends now
    keys, position = journal.read_since(tmp_path, (position[0], 0))
    assert keys is not None and set(keys) == {"exp/a", "exp/b"} and keys["exp/a"] > keys["exp/b"]
    assert position is not None and position[1] == (tmp_path / journal.JOURNAL_FILE).stat().st_size
    again, same = journal.read_since(tmp_path, position)
    assert again == {} and same == position
    journal.note(b)
    keys, _ = journal.read_since(tmp_path, position)
    assert keys is not None and list(keys) == ["exp/b"]


def test_a_line_being_written_is_left_for_the_next_read(tmp_path: Path) -> None:
    """A partial last line (a writer mid-write) is not returned until whole."""
    journal.note(_run_dir(tmp_path, "a"))
    _, position = journal.read_since(tmp_path, None)
    assert position is not None
    with open(tmp_path / journal.JOURNAL_FILE, "ab") as fh:
        fh.write(b"exp/partial")
    keys, later = journal.read_since(tmp_path, position)
    assert keys == {} and later == position
    with open(tmp_path / journal.JOURNAL_FILE, "ab") as fh:
        fh.write(b"\n")
    keys, _ = journal.read_since(tmp_path, position)
    assert keys is not None and list(keys) == ["exp/partial"]


def test_a_journal_made_anew_has_a_new_id_and_writers_follow_it(tmp_path: Path) -> None:
    """Removing the journal (even if the new file reuses the inode) changes its id; the writer writes to the new file."""
    a = _run_dir(tmp_path, "a")
    journal.note(a)
    _, old = journal.read_since(tmp_path, None)
    assert old is not None
    os.unlink(tmp_path / journal.JOURNAL_FILE)
    journal.note(a)
    keys, new = journal.read_since(tmp_path, old)
    assert keys is None and new is not None and new[0] != old[0]
    assert (tmp_path / journal.JOURNAL_FILE).read_text().splitlines()[1:] == ["exp/a"]


def test_start_makes_an_empty_journal_once(tmp_path: Path) -> None:
    """An older store gets a journal (its id line only); a second start keeps the same one."""
    assert journal.start(tmp_path)
    first = (tmp_path / journal.JOURNAL_FILE).read_text()
    assert first.startswith("#") and first.count("\n") == 1
    assert journal.start(tmp_path)
    assert (tmp_path / journal.JOURNAL_FILE).read_text() == first
