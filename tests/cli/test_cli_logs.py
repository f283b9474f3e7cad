"""runlog.cli.logs: `runlog logs`, printed or followed (colours on a terminal, progress bars in place)."""

from __future__ import annotations

import io

from cli_helpers import invoke
from click.testing import CliRunner

from runlog import Experiment, Run
from runlog.cli.logs import _LogOutput, log_text, logs, progress_key


def test_logs_prints_the_driver_log(seeded: Run) -> None:
    """`runlog logs RUN` prints the driver log."""
    assert invoke("logs", seeded.id) == "line one\nline two\n"


def test_logs_strip_colours_in_a_pipe_and_keep_them_on_a_terminal(exp: Experiment) -> None:
    """`runlog logs`: ANSI colours stripped when stdout is not a terminal; kept on one (FORCE_COLOR here),
    where other escapes (a window title) are still dropped."""
    run = exp.start_logging(outputs=None)
    run._writer.write_log("\x1b[32mgreen\x1b[0m ok\x1b]0;pwned\x07\n")
    run.complete()
    assert invoke("logs", run.id) == "green ok\n"
    coloured = invoke("logs", run.id, env={"FORCE_COLOR": "1"})
    assert coloured == "\x1b[32mgreen\x1b[0m ok\n"


def test_follow_draws_a_progress_bar_on_one_line(exp: Experiment) -> None:
    """`runlog logs --follow` on a terminal draws a bar's successive states over each other (\\r, clear line);
    in a pipe every line is kept, as plain text."""
    from runlog.cli import _LogOutput, progress_key

    states = [f"2026-12-04T10:00:0{i}.000Z [stderr] train: {p:3d}%|##  | {p}/100" for i, p in enumerate((10, 40, 100))]
    assert progress_key(states[0]) == progress_key(states[2]) == "[stderr] tqdm:train:"
    assert progress_key("2026-12-04T10:00:00.000Z epoch 1 done") is None
    run = exp.start_logging(outputs=None)
    run._writer.write_log("start\n" + "\n".join(states) + "\n\x1b[1mdone\x1b[0m\n")
    run.complete()
    drawn = invoke("logs", run.id, "--follow", env={"FORCE_COLOR": "1"})
    assert drawn.count("\r\x1b[K") == 2 and drawn.endswith("100/100\n\x1b[1mdone\x1b[0m\n")
    assert drawn.splitlines()[0].endswith("start") and "\n" not in drawn.split("train:  10%")[1].split("100/100")[0]
    piped = invoke("logs", run.id, "--follow")
    assert all(s in piped for s in states) and "\x1b" not in piped and "done" in piped
    out = io.StringIO()
    writer = _LogOutput(out, terminal=True)
    writer.write(states[0] + "\n" + states[1])
    writer.close()  # the unfinished last line is written, and the terminal line ended
    assert out.getvalue() == states[0] + "\r\x1b[K" + states[1] + "\n"


def test_log_text_keeps_only_colours_on_a_terminal() -> None:
    line = "\x1b[31mred\x1b[0m \x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\ \x1b[2Jbell\x07"
    assert log_text(line, terminal=False) == "red link bell\x07"
    assert log_text(line, terminal=True) == "\x1b[31mred\x1b[0m link bell"
    assert log_text("plain", terminal=False) == "plain"


def test_progress_keys_tell_bars_apart_by_description_rank_and_stream() -> None:
    assert progress_key("epoch 1:  45%|####  | 45/100") == "tqdm:epoch 1:"
    assert progress_key("[rank 1] eval: 10%|#") == "[rank 1] tqdm:eval:"
    assert progress_key(" 12/300 [=>......] - ETA: 3s") == "keras:300"
    assert progress_key("old 5%|\rnew: 9%|#") == "tqdm:new:"  # a redrawn line: its last state counts
    assert progress_key("loss 0.5 (100%)") is None


def test_in_a_pipe_every_line_is_written_plain() -> None:
    out = io.StringIO()
    writer = _LogOutput(out, terminal=False)
    writer.write("a: 10%|#\na: 20%|##\n\x1b[1mtail")
    writer.close()
    assert out.getvalue() == "a: 10%|#\na: 20%|##\ntail\n"


def test_rank_options_are_checked(seeded: Run) -> None:
    runner = CliRunner()
    bad = runner.invoke(logs, [seeded.id, "--rank", "first"])
    assert bad.exit_code == 2 and "expected a rank number" in bad.output
    both = runner.invoke(logs, [seeded.id, "--rank", "0", "--name", "driver_log.txt"])
    assert both.exit_code == 2 and "not both" in both.output
    missing = runner.invoke(logs, [seeded.id, "--rank", "3"])
    assert missing.exit_code == 1 and "no rank 3" in missing.output and "a single process" in missing.output


def test_a_log_is_named_with_or_without_its_folder(seeded: Run) -> None:
    assert CliRunner().invoke(logs, [seeded.id, "--name", "driver_log.txt"]).output == "line one\nline two\n"
    unknown = CliRunner().invoke(logs, [seeded.id, "--name", "nope.txt"])
    assert unknown.exit_code == 1 and "logs/driver_log.txt" in unknown.output
