"""The viewer's rank controls in a real headless Chromium: a multi-process run's charts switch between ranks (or
draw every rank as its own series) and its log view shows one rank's driver log or every rank's interleaved by
time; both are in the address, so a reload keeps them. A single-process run gets no rank control at all."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect
from rank_helpers import two_rank_run
from ui_helpers import serve

import runlog

RANK0 = ["2026-01-01T00:00:01.000Z start 0", "2026-01-01T00:00:03.000Z step 0"]
RANK1 = ["2026-01-01T00:00:02.000Z start 1", "2026-01-01T00:00:04.000Z step 1"]
INTERLEAVED = [
    "[rank 0] 2026-01-01T00:00:01.000Z start 0",
    "[rank 1] 2026-01-01T00:00:02.000Z start 1",
    "[rank 0] 2026-01-01T00:00:03.000Z step 0",
    "[rank 1] 2026-01-01T00:00:04.000Z step 1",
]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A finished two-rank run (`loss` by both ranks: rank 0 0,1,2, rank 1 10,11,12; `final_acc` 0.5 and 0.6), a running run with two ranks'
    driver logs, and a single-process run with a loss series and a driver log."""
    store = tmp_path_factory.mktemp("ui-ranks") / "store"
    ranked = two_rank_run(store, extra="\nrun.log('final_acc', 0.5 + rank / 10)\n")
    ranked.complete()
    logged = runlog.Experiment(runlog.Workspace(store), "rank-logs").start_logging(
        outputs=False, snapshot_directory=None, display_name="rank-logs"
    )
    logs = logged.path / "files" / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    (logs / "driver_log_rank_0.txt").write_text("".join(f"{line}\n" for line in RANK0))
    (logs / "driver_log_rank_1.txt").write_text("".join(f"{line}\n" for line in RANK1))
    single = runlog.Experiment(runlog.Workspace(store), "single").start_logging(
        outputs=False, snapshot_directory=None, display_name="single"
    )
    for step, loss in enumerate([0.9, 0.5, 0.3]):
        single.log("loss", loss, step=step)
    single._writer.write_log("just one process\n")
    single.complete()
    bars = runlog.Experiment(runlog.Workspace(store), "rank-bars").start_logging(
        outputs=False, snapshot_directory=None, display_name="bars"
    )
    (bars.path / "files" / "logs").mkdir(parents=True, exist_ok=True)
    for rank in (0, 1):
        (bars.path / "files" / "logs" / f"driver_log_rank_{rank}.txt").write_text(
            f"2026-01-01T00:00:0{rank + 1}.000Z {bar(10)}\n"
        )
    with serve(store) as url:
        yield {"url": url, "ranked": ranked, "logged": logged, "single": single, "bars": bars}
    logged.complete()
    bars.complete()


def bar(percent: int) -> str:
    """A tqdm bar's state as a driver log keeps it."""
    return f"[stderr] train: {percent:3d}%|{'#' * (percent // 10):10s}| {percent // 10}/10"


@pytest.fixture()
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.set_default_timeout(15_000)
    yield pg
    assert errors == []
    context.close()


def _loss_chart(page: Page, series: int) -> dict[str, Any]:
    """The loss chart once it draws `series` series: its legend labels, stroke colours and y values per series."""
    page.wait_for_function(
        "n => App.charts.some(c => c.root.closest('[data-chart=loss]') && c.series.length === n + 1 && c.data.length === n + 1)",
        arg=series,
    )
    found: dict[str, Any] = page.evaluate(
        """() => { const c = App.charts.find(c => c.root.closest('[data-chart=loss]'));
        return {labels: c.series.slice(1).map(s => s.label), colours: c.series.slice(1).map(s => s._stroke || s.stroke),
                ys: c.data.slice(1).map(ys => ys.filter(v => v !== null && v !== undefined))}; }"""
    )
    return found


def test_rank_switch_draws_rank_0_then_the_chosen_rank_then_every_rank_and_survives_a_reload(
    page: Page, site: dict[str, Any]
) -> None:
    """A two-rank run's charts draw rank 0's loss by default; the switch draws rank 1's instead, then both ranks as
    two series in distinct colours labelled by rank; the choice is `rank=` in the address and a reload keeps it."""
    page.goto(f"{site['url']}/#/run/{site['ranked'].id}?tab=charts")
    card = page.locator('.card[data-chart="loss"]')
    card.locator("canvas").wait_for()
    assert page.locator("#rank option").all_inner_texts() == ["rank 0", "rank 1", "all ranks"]
    expect(page.locator("#rank")).to_have_value("0")
    assert _loss_chart(page, 1)["ys"] == [[0.0, 1.0, 2.0]]
    assert "rank=" not in page.url  # the default stays out of the address

    page.select_option("#rank", "1")
    page.wait_for_function("() => App.charts.some(c => c.root.closest('[data-chart=loss]') && c.data[1].includes(11))")
    assert _loss_chart(page, 1)["ys"] == [[10.0, 11.0, 12.0]]
    assert "rank=1" in page.url

    page.select_option("#rank", "all")
    drawn = _loss_chart(page, 2)
    expect(card.locator(".chart")).to_have_attribute("data-series", "2")
    assert drawn["labels"] == ["rank 0", "rank 1"]
    assert drawn["ys"] == [[0.0, 1.0, 2.0], [10.0, 11.0, 12.0]]
    assert drawn["colours"][0] != drawn["colours"][1]
    legend = card.locator(".u-legend .u-series").all_inner_texts()
    assert any("rank 0" in s for s in legend) and any("rank 1" in s for s in legend)
    assert "rank=all" in page.url

    page.reload()
    card.locator("canvas").wait_for()
    expect(page.locator("#rank")).to_have_value("all")
    assert _loss_chart(page, 2)["ys"] == [[0.0, 1.0, 2.0], [10.0, 11.0, 12.0]]


def test_a_single_process_run_has_no_rank_controls(page: Page, site: dict[str, Any]) -> None:
    """A run of one process: its charts and its log view look as before, with no rank switch or selector."""
    page.goto(f"{site['url']}/#/run/{site['single'].id}?tab=charts")
    page.locator('.card[data-chart="loss"] canvas').wait_for()
    assert _loss_chart(page, 1)["ys"] == [[0.9, 0.5, 0.3]]
    assert page.locator("#rank").count() == 0
    page.goto(f"{site['url']}/#/run/{site['single'].id}?tab=logs")
    expect(page.locator("#log")).to_contain_text("just one process")
    assert page.locator("#log-rank").count() == 0
    assert page.locator("#log .rank-tag").count() == 0



def test_a_short_step_axis_ticks_whole_steps(page: Page, site: dict[str, Any]) -> None:
    """A 3-step chart's step axis has ticks on whole steps only (it used to show 0.25, 1.3, 1.8)."""
    page.goto(f"{site['url']}/#/run/{site['single'].id}?tab=charts")
    page.locator('.card[data-chart="loss"] canvas').wait_for()
    splits = page.evaluate(
        "() => { const c = App.charts.find(c => c.root.closest('[data-chart=loss]')); "
        "return c.axes[0]._splits.filter((v, i) => c.axes[0]._values[i] !== ''); }"
    )
    assert len(splits) >= 2
    assert all(float(v).is_integer() for v in splits), splits


def test_single_values_of_a_multi_rank_run_have_a_column_per_rank(page: Page, site: dict[str, Any]) -> None:
    """A value each rank logged once (a final score) shows per rank in the Values table, not one value for all
    ranks; a rank that did not log a metric has an empty cell."""
    page.goto(f"{site['url']}/#/run/{site['ranked'].id}?tab=charts")
    values = page.locator("#values")
    expect(values.locator('tr[data-metric="final_acc"] td[data-rank="1"]')).to_have_text("0.6")
    expect(values.locator('tr[data-metric="final_acc"] td[data-rank="0"]')).to_have_text("0.5")
    expect(values.locator('tr[data-metric="only1"] td[data-rank="1"]')).to_have_text("1")
    assert values.locator('tr[data-metric="only1"] td[data-rank="0"]').text_content() == ""
    assert values.locator("thead th").all_text_contents()[1:] == ["■ rank 0", "■ rank 1"]

def _log_lines(page: Page) -> list[str]:
    lines: list[str] = page.locator("#log .line").evaluate_all("ls => ls.map(l => l.textContent.replace(/\\n$/, ''))")
    return lines


def test_log_view_shows_one_rank_or_every_rank_by_time_and_survives_a_reload(page: Page, site: dict[str, Any]) -> None:
    """A multi-process run's log view: the rank selector shows rank 1's driver log only; "all ranks" interleaves
    both ranks' lines by time, each line tagged with its rank, and follows lines appended to a rank's log; the
    choice is `rank=` in the address and a reload keeps it."""
    run = site["logged"]
    page.goto(f"{site['url']}/#/run/{run.id}?tab=logs")
    expect(page.locator("#log")).to_contain_text("start 0")
    assert _log_lines(page) == RANK0  # rank 0's driver log first
    assert page.locator("#log-rank option").all_inner_texts() == ["rank 0", "rank 1", "all ranks, by time"]

    page.select_option("#log-rank", "1")
    expect(page.locator("#log")).to_contain_text("start 1")
    assert _log_lines(page) == RANK1
    assert "rank=1" in page.url
    page.reload()
    expect(page.locator("#log")).to_contain_text("start 1")
    assert _log_lines(page) == RANK1 and page.locator("#log-rank").input_value() == "1"

    page.select_option("#log-rank", "all")
    expect(page.locator("#log .line")).to_have_count(4)
    assert _log_lines(page) == INTERLEAVED
    assert page.locator("#log .line").evaluate_all("ls => ls.map(l => l.dataset.rank)") == ["0", "1", "0", "1"]
    assert page.locator("#log-name").is_hidden()
    assert "rank=all" in page.url
    with open(run.path / "files" / "logs" / "driver_log_rank_0.txt", "a") as fh:
        fh.write("2026-01-01T00:00:05.000Z more 0\n")
    expect(page.locator("#log .line")).to_have_count(5)  # the running run's view follows every rank
    assert _log_lines(page)[-1] == "[rank 0] 2026-01-01T00:00:05.000Z more 0"

    page.reload()
    expect(page.locator("#log .line")).to_have_count(5)
    assert _log_lines(page) == [*INTERLEAVED, "[rank 0] 2026-01-01T00:00:05.000Z more 0"]
    expect(page.locator("#log-rank")).to_have_value("all")
    page.fill("#log-search", "step")
    assert _log_lines(page) == [INTERLEAVED[2], INTERLEAVED[3]]


def test_rank_tag_of_a_log_line_is_text(page: Page, site: dict[str, Any]) -> None:
    """Lines of the interleaved view that hold markup stay text: the rank tag is built from the rank number only."""
    run = site["logged"]
    with open(run.path / "files" / "logs" / "driver_log_rank_1.txt", "a") as fh:
        fh.write("2026-01-01T00:00:06.000Z <img src=x onerror=alert(1)>\n")
    page.goto(f"{site['url']}/#/run/{run.id}?tab=logs&rank=all")
    expect(page.locator("#log")).to_contain_text("<img src=x onerror=alert(1)>")
    assert page.locator("#log img").count() == 0
    assert page.locator("#log .line").last.locator(".rank-tag").inner_text() == "[rank 1] "


def test_interleaved_view_shows_each_ranks_progress_bar_as_one_line(page: Page, site: dict[str, Any]) -> None:
    """In the "all ranks" view every rank's progress bar is one line: a new state of rank 0's bar replaces rank 0's
    line in place although rank 1's bar came after it, when it is appended and when the view is drawn again."""
    run = site["bars"]
    page.goto(f"{site['url']}/#/run/{run.id}?tab=logs&rank=all")
    expect(page.locator("#log .line")).to_have_count(2)
    with open(run.path / "files" / "logs" / "driver_log_rank_0.txt", "a") as fh:
        fh.write(f"2026-01-01T00:00:03.000Z {bar(20)}\n")
    expect(page.locator("#log .line").first).to_contain_text("20%")
    expected = [f"[rank 0] 2026-01-01T00:00:03.000Z {bar(20)}", f"[rank 1] 2026-01-01T00:00:02.000Z {bar(10)}"]
    assert _log_lines(page) == expected
    with open(run.path / "files" / "logs" / "driver_log_rank_0.txt", "a") as fh:
        fh.write("2026-01-01T00:00:04.000Z done\n")
    expect(page.locator("#log .line")).to_have_count(3)
    page.reload()
    expect(page.locator("#log .line")).to_have_count(3)
    assert _log_lines(page) == [*expected, "[rank 0] 2026-01-01T00:00:04.000Z done"]
