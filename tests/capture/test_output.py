"""Tests of runlog._capture.output: a pipe's bytes -> timestamped driver-log lines, and the last traceback."""

from __future__ import annotations

from runlog._capture.output import MAX_LINE, LineAssembler, format_time, last_traceback


class _Clock:
    def __init__(self) -> None:
        self.now = 1764858516.0

    def __call__(self) -> float:
        return self.now


def _assembler(**kwargs: object) -> tuple[LineAssembler, list[str], _Clock]:
    out: list[str] = []
    clock = _Clock()
    return LineAssembler(out.append, clock=clock, **kwargs), out, clock  # type: ignore[arg-type]


def test_lines_are_stamped_with_the_utc_time_and_the_stream() -> None:
    asm, out, clock = _assembler()
    asm.feed(b"one\ntwo\n")
    err, err_out, _ = _assembler(stderr=True)
    err.feed(b"oops\n")
    stamp = format_time(clock.now)
    assert out == [f"{stamp} one\n{stamp} two\n"]  # the lines of one read are one call of the sink
    assert err_out == [f"{stamp} [stderr] oops\n"]


def test_a_partial_line_waits_for_its_end_or_the_close() -> None:
    asm, out, _ = _assembler()
    asm.feed(b"no newline yet")
    assert out == []
    asm.close()
    assert [line.split(" ", 1)[1] for line in out] == ["no newline yet\n"]


def test_a_line_longer_than_the_limit_is_split() -> None:
    asm, out, _ = _assembler()
    asm.feed(b"x" * (MAX_LINE + 10))
    assert len(out) == 1 and out[0].endswith(" " + "x" * (MAX_LINE + 10) + "\n")
    asm.feed(b"y\n")
    assert out[-1].split(" ", 1)[1] == "y\n"


def test_tick_writes_the_state_of_a_line_still_being_redrawn_once_per_interval() -> None:
    asm, out, clock = _assembler(progress_interval=5.0)
    asm.feed(b"10%\r20%\r30%")  # the first redraw starts the bar's clock; 20% is the last complete state
    asm.tick()
    assert out == []
    clock.now += 5.0
    asm.tick()
    asm.tick()  # the same state is not written twice
    assert [line.split(" ", 1)[1] for line in out] == ["20%\n"]
    asm.feed(b"\n")
    assert [line.split(" ", 1)[1] for line in out] == ["20%\n", "30%\n"]


def test_the_final_state_of_a_bar_already_written_is_not_repeated() -> None:
    asm, out, clock = _assembler(progress_interval=1.0)
    asm.feed(b"100%\r100%\r")
    clock.now += 1.0
    asm.tick()  # writes the bar's state
    asm.feed(b"\n")  # the line ends in that same state
    assert [line.split(" ", 1)[1] for line in out] == ["100%\n"]


def test_the_tail_keeps_recent_lines_for_the_traceback() -> None:
    asm, _, _ = _assembler(stderr=True)
    asm.feed(b'Traceback (most recent call last):\n  File "t.py", line 1\nKeyError: 1\n')
    assert last_traceback(asm.tail) == 'Traceback (most recent call last):\n  File "t.py", line 1\nKeyError: 1'


def test_last_traceback_is_the_last_one_and_none_without_one() -> None:
    assert last_traceback(["plain", "  indented"]) is None
    lines = ["Traceback (most recent call last):", "  a", "OSError: first", "Traceback (most recent call last):",
             "  b", "ValueError: second"]  # fmt: skip
    assert last_traceback(lines) == "Traceback (most recent call last):\n  b\nValueError: second"


def test_a_long_traceback_is_cut_in_the_middle() -> None:
    frames = [f"  frame {i}" for i in range(200)]
    text = last_traceback(["Traceback (most recent call last):", *frames, "RecursionError: deep"], max_lines=10)
    assert text is not None
    lines = text.splitlines()
    assert len(lines) == 10
    assert lines[:4] == ["Traceback (most recent call last):", "  frame 0", "  frame 1", "  ..."]
    assert lines[-1] == "RecursionError: deep"


def test_line_assembler_collapses_redraws_and_splits_across_chunks() -> None:
    """\\r redraws keep the final state (plus one per interval); \\r\\n split over chunks and UTF-8 split bytes work."""
    from runlog._capture.output import LineAssembler, last_traceback

    out: list[str] = []
    clock = [0.0]
    asm = LineAssembler(out.append, progress_interval=10.0, clock=lambda: clock[0])
    asm.feed(b"a\r")
    asm.feed(b"\nb\xc3")
    asm.feed(b"\xa9\n")
    for i in range(100):  # a redraw every 0.25 s for 25 s: one state per 10 s, then the final one
        clock[0] += 0.25
        asm.feed(f"\r{i}%".encode())
    clock[0] += 0.25
    asm.feed(b"\n")
    asm.feed(b"tail")
    asm.close()
    texts = [line.split(" ", 1)[1] for line in "".join(out).splitlines()]
    assert texts == ["a", "b\u00e9", "40%", "80%", "99%", "tail"]
    tb = last_traceback(
        ["x", "Traceback (most recent call last):", '  File "t.py", line 1', "ValueError: boom", "after"]
    )
    assert tb == 'Traceback (most recent call last):\n  File "t.py", line 1\nValueError: boom'
