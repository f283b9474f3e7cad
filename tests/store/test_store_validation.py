"""Every write validates what it writes (issue 17, cases 1 and 13): bad keys and arguments are refused
with an error that says what to pass, and nothing of the bad call reaches the store."""

from __future__ import annotations

from pathlib import Path

import pytest

import runlog
from runlog import InvalidArgumentError


@pytest.mark.parametrize(
    "call",
    [
        lambda run: run.remove_tags([["lr"]]),
        lambda run: run.remove_tags({"lr": "1"}.items()),
        lambda run: run.remove_tags({"lr": "1"}),
        lambda run: run.remove_tags(None),
        lambda run: run.remove_tags([""]),
        lambda run: run.add_properties({("a",): "x"}),
        lambda run: run.add_properties({None: "x"}),
        lambda run: run.add_properties({"": "x"}),
        lambda run: run.set_tags({("a", "b"): "x"}),
        lambda run: run.set_tags([["a"]]),
        lambda run: run.tag(["lr"]),
        lambda run: run.tag(""),
    ],
)
def test_bad_keys_are_refused_and_the_run_stays_readable(exp: runlog.Experiment, call: object) -> None:
    """Case 1: a non-str or empty key is refused (ValueError and TypeError); tags, status and complete() still work."""
    run = exp.start_logging(outputs=None)
    run.tag("kept", "1")
    with pytest.raises(InvalidArgumentError) as info:
        call(run)  # type: ignore[operator]
    assert isinstance(info.value, ValueError) and isinstance(info.value, TypeError)
    assert "str" in str(info.value)
    assert run.get_tags() == {"kept": "1"}
    assert run.get_status() == "Running"
    run.complete()
    assert runlog.Run(exp, run.id).get_status() == "Completed"


def test_remove_tags_of_items_says_to_pass_keys(exp: runlog.Experiment) -> None:
    """Case 1: remove_tags(d.items()) says to pass d.keys(); a dict's keys work."""
    run = exp.start_logging(outputs=None)
    run.set_tags({"a": 1, "b": 2, "c": 3})
    with pytest.raises(InvalidArgumentError, match=r"d\.keys\(\)"):
        run.remove_tags({"a": 1}.items())
    run.remove_tags({"a": 1, "b": 2}.keys())
    assert run.get_tags() == {"c": "3"}
    run.complete()


def test_set_tags_with_one_bad_key_sets_none(exp: runlog.Experiment) -> None:
    """A bad key among good ones: nothing of the call is written."""
    run = exp.start_logging(outputs=None)
    with pytest.raises(InvalidArgumentError):
        run.set_tags({"good": 1, 3.5j: 2})  # type: ignore[dict-item]
    assert run.get_tags() == {}
    run.complete()


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (lambda run: run.add_properties(None), r"add_properties takes a dict of properties, e\.g\."),
        (lambda run: run.add_properties([("a", "b")]), r"add_properties takes a dict"),
        (lambda run: run.set_tags(None), r"set_tags takes a tag key \(str\) or a list"),
        (lambda run: run.log_image(None, plot=object()), r"log_image: a metric name must be a non-empty str"),
    ],
)
def test_none_arguments_get_a_clear_error(exp: runlog.Experiment, call: object, expected: str) -> None:
    """Case 13: add_properties(None), set_tags(None), log_image(None, ...) name the call and what to pass."""
    run = exp.start_logging(outputs=None)
    with pytest.raises(InvalidArgumentError, match=expected):
        call(run)  # type: ignore[operator]
    run.complete()


def test_file_names_with_nul_or_too_long_parts_are_refused(exp: runlog.Experiment, tmp_path: Path) -> None:
    """Case 13: a NUL in a file name and a 300-character name part are refused before any OS call."""
    src = tmp_path / "f.txt"
    src.write_text("x")
    run = exp.start_logging(outputs=None)
    with pytest.raises(InvalidArgumentError, match="NUL"):
        run.upload_file("outputs/a\0b.txt", src)
    with pytest.raises(InvalidArgumentError, match="at most 255 bytes"):
        run.upload_file("outputs/" + "x" * 300 + ".txt", src)
    assert run.upload_file("outputs/" + "x" * 200 + ".txt", src).startswith("outputs/x")
    run.complete()


def test_start_logging_refuses_unknown_keywords(exp: runlog.Experiment) -> None:
    """Case 13: start_logging(unknown=...) is an error with a suggestion, not silently ignored."""
    with pytest.raises(InvalidArgumentError, match=r"'dispaly_name'.*Did you mean display_name"):
        exp.start_logging(dispaly_name="x")
    run = exp.start_logging(None, display_name="ok")  # outputs by position, as Azure ML allows
    assert run.display_name == "ok"
    run.complete()


def test_read_only_or_full_store_gives_store_errors(
    exp: runlog.Experiment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Case 13: upload_file into a read-only store and start_logging on a full disk raise StoreError saying what to do."""
    import errno
    import tempfile

    from runlog._store import layout

    src = tmp_path / "f.txt"
    src.write_text("x")
    run = exp.start_logging(outputs=None)

    def read_only(*args: object, **kwargs: object) -> tuple[int, str]:
        raise PermissionError(errno.EACCES, "Permission denied")

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    with monkeypatch.context() as m:
        m.setattr(tempfile, "mkstemp", read_only)
        with pytest.raises(runlog.StoreError, match="make the store writable") as info:
            run.upload_file("model.txt", src)
        assert isinstance(info.value, PermissionError) or isinstance(info.value.__cause__, PermissionError)
        m.setattr(layout, "write_json_atomic", full)
        with pytest.raises(runlog.StoreError, match=r"cannot create run .*No space left on device.*free disk space"):
            exp.start_logging(outputs=None)
    run.complete()


def test_upload_of_a_missing_source_still_names_the_source(exp: runlog.Experiment, tmp_path: Path) -> None:
    """The source's own errors are not mistaken for the store's: a missing source is a FileNotFoundError."""
    run = exp.start_logging(outputs=None)
    with pytest.raises(FileNotFoundError, match="no such file"):
        run.upload_file("a.txt", tmp_path / "missing.txt")
    run.complete()


def test_validation_checks_keys_and_names_directly() -> None:
    """runlog._store.validation's checks: good keys pass through, bad ones raise InvalidArgumentError naming the call."""
    from runlog._store.validation import MAX_NAME_PART, check_key, check_keys

    assert check_key("loss", call="run.log") == "loss"
    assert check_keys(["a", "b"], call="run.log_row") == ["a", "b"]
    with pytest.raises(InvalidArgumentError, match="run.log"):
        check_key("", call="run.log")
    with pytest.raises(InvalidArgumentError, match="run.log"):
        check_key(3, call="run.log")
    assert MAX_NAME_PART == 255
