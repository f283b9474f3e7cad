"""The viewer in a real headless Chromium (Debian's package, driven by Playwright).

One browser for the module, one server on a seeded store. Screenshots go to
``test-artifacts/`` (git-ignored) so a person can look at the pages.
"""

from __future__ import annotations

import io
import os
import re
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _repo import REPO
from playwright.sync_api import Browser, Page, expect
from ui_helpers import seed, serve

ARTIFACTS = REPO / "test-artifacts"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    store = tmp_path_factory.mktemp("ui-browser") / "store"
    runs = seed(store)
    with serve(store) as url:
        runs["url"] = url
        yield runs
    runs["live"].complete()


@pytest.fixture()
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 900}, accept_downloads=True)
    pg = context.new_page()
    pg.dialogs = []  # type: ignore[attr-defined]
    pg.errors = []  # type: ignore[attr-defined]
    pg.on("dialog", lambda d: (pg.dialogs.append(d.message), d.dismiss()))  # type: ignore[attr-defined]
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))  # type: ignore[attr-defined]
    pg.set_default_timeout(15_000)
    yield pg
    assert pg.errors == []  # type: ignore[attr-defined]
    context.close()


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _rows(page: Page) -> list[str]:
    """The run ids of the runs table's rows, once the table answers its current filter and order."""
    page.wait_for_selector('#runs-scroll[aria-busy="false"]')
    rows: list[str] = page.locator("#runs-table tbody tr[data-run]").evaluate_all("rows => rows.map(r => r.dataset.run)")
    return rows


def _cell(page: Page, run_id: str, metric: str) -> str:
    return page.locator(f'tr[data-run="{run_id}"] td[data-metric="{metric}"]').inner_text()


def test_runs_table_shows_last_min_max(page: Page, site: dict[str, Any]) -> None:
    """The runs table's metric columns show last, min or max values as the switch says, and sort by them."""
    page.goto(site["url"] + "/")
    page.wait_for_selector("#runs-table")
    a, b = site["alpha"].id, site["beta"].id
    assert (_cell(page, a, "loss"), _cell(page, b, "loss")) == ("0.5", "0.6")
    page.locator("#agg label", has_text="min").click()
    assert (_cell(page, a, "loss"), _cell(page, b, "loss")) == ("0.4", "0.2")
    page.locator("#agg label", has_text="max").click()
    assert (_cell(page, a, "loss"), _cell(page, b, "loss")) == ("0.9", "1.2")
    shot(page, "runs-table-max")
    # sortable (on the server, by the last value as MLflow's metrics.loss): ascending, then descending
    page.click('#runs-table th[data-sort="m:loss"]')
    order = [r for r in _rows(page) if r in (a, b)]
    assert order == [a, b]  # last 0.5 before 0.6
    page.click('#runs-table th[data-sort="m:loss"]')
    order = [r for r in _rows(page) if r in (a, b)]
    assert order == [b, a]
    # the tag with HTML in it is text, not markup
    assert "<img src=x onerror=alert(1)>=<b>bold</b>" in page.locator(f'tr[data-run="{a}"]').inner_text()
    assert page.locator("#runs-table img").count() == 0
    page.fill("#filter-q", "beta")
    expect(page.locator("#runs-table tbody tr")).to_have_count(1)
    assert page.locator("#runs-table tbody tr").get_attribute("data-run") == b


def test_two_selected_runs_draw_one_chart_with_two_series(page: Page, site: dict[str, Any]) -> None:
    """Selecting two runs and comparing draws one loss chart holding a series per run."""
    page.goto(site["url"] + "/")
    page.wait_for_selector("#runs-table")
    page.check(f'input.select-run[data-run="{site["alpha"].id}"]')
    page.check(f'input.select-run[data-run="{site["beta"].id}"]')
    page.click("#compare")
    chart = page.locator('#charts .card[data-chart="loss"]')
    chart.locator("canvas").wait_for()
    assert page.locator('#charts .card[data-chart="loss"]').count() == 1
    assert chart.locator(".chart").get_attribute("data-series") == "2"
    legend = chart.locator(".u-legend .u-series").all_inner_texts()
    assert len(legend) == 3  # the x axis and two runs
    assert any("alpha" in s for s in legend) and any("beta" in s for s in legend)
    # hover shows both runs' values at a step (the charts are below the compare table: scroll to them)
    chart.scroll_into_view_if_needed()
    box = chart.locator(".u-over").bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] * 0.01, box["y"] + box["height"] / 2)
    values = chart.locator(".u-legend .u-series .u-value").all_inner_texts()
    assert values[1:] == ["0.9", "1.2"]
    shot(page, "compare-two-runs")


def test_table_metric_charts_one_column_against_another(page: Page, site: dict[str, Any]) -> None:
    """A table metric is charted with a chosen column on x and others on y."""
    page.goto(f"{site['url']}/#/run/{site['alpha'].id}?tab=charts")
    card = page.locator('.card[data-chart="roc"]')
    card.locator("canvas").wait_for()
    assert card.locator("select.x-column").input_value() == "fpr"
    assert card.locator(".u-legend .u-series").first.inner_text().strip().startswith("fpr")
    card.locator("select.x-column").select_option("threshold")
    card.locator("input.y-column[value=threshold]").uncheck()
    card.locator("input.y-column[value=fpr]").uncheck()
    legend = card.locator(".u-legend .u-series").all_inner_texts()
    assert legend[0].strip().startswith("threshold") and [s.split(":")[0].strip() for s in legend[1:]] == ["tpr"]
    assert card.locator(".chart").get_attribute("data-series") == "1"
    shot(page, "run-charts-table")


def test_several_metrics_on_one_chart_and_single_values_as_values(page: Page, site: dict[str, Any]) -> None:
    """Metrics with a series can be charted together; a metric holding one value (acc, a parameter logged with
    run.log) is shown in the values table, not as a one-dot chart, and cannot be combined."""
    import runlog

    run = runlog.Experiment(site["ws"], "combine").start_logging(outputs=False, display_name="combo")
    for step in range(5):
        run.log("loss", 1.0 / (step + 1), step=step)
        run.log("val_loss", 1.2 / (step + 1), step=step)
    run.log("acc", 0.0001)
    run.log("batch", 64)
    run.complete()
    page.goto(f"{site['url']}/#/run/{run.id}?tab=charts")
    page.locator('#charts .card[data-chart="loss"] canvas').wait_for()
    assert page.locator('.card[data-chart="acc"]').count() == 0 and page.locator('.card[data-chart="batch"]').count() == 0
    values = page.locator("#values")
    assert values.locator('tr[data-metric="acc"] td.num').inner_text() == "0.0001"  # not 1.0000e-4
    assert values.locator('tr[data-metric="batch"] td.num').inner_text() == "64"
    assert page.locator("input.combine-metric[value=acc]").count() == 0
    page.check("input.combine-metric[value=loss]")
    page.check("input.combine-metric[value=val_loss]")
    page.click("#combine")
    combined = page.locator('.custom .card[data-chart="loss + val_loss"]')
    combined.locator("canvas").wait_for()
    assert combined.locator(".chart").get_attribute("data-series") == "2"
    shot(page, "run-charts-values")


def test_log_view_follows_lines_appended_after_load(page: Page, site: dict[str, Any]) -> None:
    """The log view of a running run shows a line written after the page loaded, within seconds."""
    run = site["live"]
    page.goto(f"{site['url']}/#/run/{run.id}?tab=logs")
    expect(page.locator("#log")).to_contain_text("starting")
    marker = f"appended after load {time.time()}"
    run._writer.write_log(marker + "\n")
    expect(page.locator("#log")).to_contain_text(marker, timeout=10_000)
    page.fill("#log-search", "appended")
    assert page.locator("#log mark").count() == 1
    assert "starting" not in page.locator("#log").inner_text()
    shot(page, "live-log")


def test_xss_log_line_is_inert(page: Page, site: dict[str, Any]) -> None:
    """A log line `<script>alert(1)</script>` is shown as text: no script element, no dialog."""
    page.goto(f"{site['url']}/#/run/{site['alpha'].id}?tab=logs")
    expect(page.locator("#log")).to_contain_text("alert(1)")
    assert "<script>alert(1)</script>" in page.locator("#log").inner_text()
    assert page.locator("#log script").count() == 0
    page.goto(f"{site['url']}/#/run/{site['alpha'].id}?tab=overview")
    page.wait_for_selector("#metrics-list")
    assert "first <b>try</b>" in page.locator("#metrics-list").inner_text()
    shot(page, "xss-inert")
    page.click("#children a")  # the child run's page links back to its parent
    expect(page.locator("#run-title")).to_have_text("alpha-child")
    expect(page.locator(f'a[href="#/run/{site["alpha"].id}"]')).to_have_count(1)
    page.wait_for_timeout(300)
    assert page.dialogs == []  # type: ignore[attr-defined]


def test_download_all_returns_a_zip_of_the_runs_files(page: Page, site: dict[str, Any]) -> None:
    """Download all on the run page saves a zip holding exactly the run's files."""
    run = site["alpha"]
    page.goto(f"{site['url']}/#/run/{run.id}?tab=files")
    page.wait_for_selector("#file-tree")
    page.click('#file-tree li[data-file="outputs/model.txt"] .name')
    page.wait_for_selector("#file-text")
    assert page.locator("#file-text").inner_text().strip() == "weights 1 2 3"
    shot(page, "run-files")
    with page.expect_download() as info:
        page.click("#download-all")
    data = Path(info.value.path()).read_bytes()
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert sorted(zf.namelist()) == sorted(run.get_file_names())
        assert zf.read("outputs/model.txt") == b"weights 1 2 3\n"
    assert info.value.suggested_filename == f"{run.id}.zip"


def test_live_run_charts_update_and_images_show(page: Page, site: dict[str, Any]) -> None:
    """A running run's charts pick up new points and new metrics by themselves; images show in the gallery."""
    run = site["live"]
    page.goto(f"{site['url']}/#/run/{run.id}?tab=charts")
    card = page.locator('.card[data-chart="loss"]')
    expect(card.locator(".muted.small")).to_have_text("1 point(s)")
    run.log("loss", 1.5, step=1)
    run.log("loss", 1.0, step=2)
    expect(card.locator(".muted.small")).to_have_text("3 point(s)", timeout=10_000)
    run.log("lr", 0.01, step=2)  # a metric that did not exist when the page loaded
    expect(page.locator('.card[data-chart="lr"] canvas')).to_have_count(1, timeout=10_000)
    page.goto(f"{site['url']}/#/run/{site['alpha'].id}?tab=images")
    img = page.locator("#gallery img")
    expect(img).to_have_count(1)
    deadline = time.monotonic() + 10
    while not img.evaluate("i => i.complete && i.naturalWidth") and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    assert img.evaluate("i => i.naturalWidth") == 1  # the PNG was served and decoded
    assert "sample" in page.locator("#gallery figcaption").inner_text()


def test_drag_zooms_into_full_detail(page: Page, site: dict[str, Any]) -> None:
    """A 20,000-point series arrives downsampled, keeps its spike, and a drag refetches the range at full detail."""
    page.goto(f"{site['url']}/#/run/{site['long'].id}?tab=charts")
    card = page.locator('.card[data-chart="wave"]')
    card.locator("canvas").wait_for()
    expect(card.locator(".muted.small")).to_contain_text("of 20000 points shown")
    over = card.locator(".u-over").bounding_box()
    assert over is not None
    y = over["y"] + over["height"] / 2
    page.mouse.move(over["x"] + over["width"] * 0.40, y)
    page.mouse.down()
    page.mouse.move(over["x"] + over["width"] * 0.47, y, steps=5)
    page.mouse.up()
    expect(card.locator(".muted.small")).to_contain_text("of 20000 points in view")
    in_view = int(card.locator(".muted.small").inner_text().split()[0])
    assert 500 < in_view < 2000  # about 7% of the points, every one of them
    shot(page, "zoomed-chart")


def test_page_works_behind_a_token(browser: Browser, site: dict[str, Any]) -> None:
    """With a token, the address printed by `runlog ui` opens the app; without the token the page is refused."""
    store = site["ws"].store
    with serve(store, token="browser-token-0123456789") as url:
        context = browser.new_context()
        try:
            pg = context.new_page()
            refused = pg.goto(url + "/")
            assert refused is not None and refused.status == 401
            pg.goto(url + "/?token=browser-token-0123456789")
            assert "token" not in pg.url
            expect(pg.locator(f'tr[data-run="{site["beta"].id}"]')).to_have_count(1)
        finally:
            context.close()


def test_log_view_pages_back_to_the_start(page: Page, site: dict[str, Any]) -> None:
    """A log longer than one chunk opens at its end; 'Show earlier lines' brings back the start."""
    run = site["beta"]
    run._writer.write_log("".join(f"row {i:05d} of a long log..........\n" for i in range(9000)))  # ~330 KB
    page.goto(f"{site['url']}/#/run/{run.id}?tab=logs")
    expect(page.locator("#log")).to_contain_text("row 08999")
    assert "row 00000 " not in page.locator("#log").inner_text()
    page.click("#log-earlier")
    expect(page.locator("#log")).to_contain_text("row 00000 ")
    expect(page.locator("#log-earlier")).to_be_hidden()
    assert page.locator("#log-info").inner_text() == "9000 lines"


def test_log_view_renders_at_most_20000_lines(page: Page, site: dict[str, Any]) -> None:
    """A log whose last chunk holds more than 20,000 lines (or that is followed for hours) keeps at most 20,000 in the page."""
    import runlog

    run = runlog.Experiment(site["ws"], "biglog").start_logging(outputs=False)
    run._writer.write_log("".join(f"line {i:05d}\n" for i in range(30000)))  # ~330 KB: the first chunk is ~24,000 lines
    run.complete()
    page.goto(f"{site['url']}/#/run/{run.id}?tab=logs")
    expect(page.locator("#log")).to_contain_text("line 29999")
    assert page.evaluate("document.getElementById('log').childNodes.length") == 20000


def test_a_followed_log_lets_go_of_old_lines_and_fetches_them_again(page: Page, site: dict[str, Any]) -> None:
    """A log followed for long keeps a bounded number of lines in memory (here 4,000): whole old chunks are
    dropped as new ones arrive, and 'Show earlier lines' brings them back from the server."""
    import runlog

    run = runlog.Experiment(site["ws"], "followed").start_logging(outputs=False)
    try:
        run._writer.write_log("".join(f"a {i:05d}\n" for i in range(3000)))
        page.add_init_script("window.RUNLOG_KEEP_LINES = 4000")
        page.goto(f"{site['url']}/#/run/{run.id}?tab=logs")
        expect(page.locator("#log")).to_contain_text("a 02999")
        expect(page.locator("#log-info")).to_have_text("3000 lines")
        run._writer.write_log("".join(f"b {i:05d}\n" for i in range(3000)))
        expect(page.locator("#log")).to_contain_text("b 02999", timeout=10_000)
        expect(page.locator("#log-info")).to_have_text("3000 lines")  # the a-chunk was let go
        assert "a 00000" not in page.locator("#log").inner_text()
        page.click("#log-earlier")
        expect(page.locator("#log")).to_contain_text("a 00000")
        expect(page.locator("#log-info")).to_have_text("6000 lines")
        expect(page.locator("#log-earlier")).to_be_hidden()
        text = page.locator("#log").inner_text().split("\n")
        assert [line for line in text if line][:2] == ["a 00000", "a 00001"] and "b 02999" in text
    finally:
        run.complete()


def test_search_box_takes_mlflow_filters_and_says_why_one_is_bad(page: Page, site: dict[str, Any]) -> None:
    """The search box sends what is typed as `filter`: MLflow's syntax filters, plain words still search names,
    a bad expression shows the server's message under the box, and the filter survives a reload (it is in the URL)."""
    page.goto(site["url"] + "/")
    page.wait_for_selector("#runs-table")
    b = site["beta"].id
    page.fill("#filter-q", "metrics.acc > 0.85 and tags.lr = '0.01'")
    expect(page.locator("#runs-table tbody tr")).to_have_count(1)
    assert page.locator("#runs-table tbody tr").get_attribute("data-run") == b
    expect(page.locator("#filter-error")).to_be_empty()
    page.fill("#filter-q", "metrics.acc >> 1")
    expect(page.locator("#filter-error")).to_contain_text("position")
    expect(page.locator("#runs-table tbody tr")).to_have_count(1)  # the last good answer stays
    shot(page, "runs-filter-error")
    page.fill("#filter-q", "alpha")
    expect(page.locator("#filter-error")).to_be_empty()
    expect(page.locator("#runs-table tbody tr")).to_have_count(2)  # alpha and alpha-child
    page.fill("#filter-q", "metrics.acc > 0.85")
    expect(page.locator("#runs-table tbody tr")).to_have_count(1)
    expect(page).to_have_url(re.compile("filter="))
    page.reload()
    page.wait_for_selector("#runs-table")
    assert page.locator("#filter-q").input_value() == "metrics.acc > 0.85"
    expect(page.locator("#runs-table tbody tr")).to_have_count(1)


def test_log_colours_render_as_styled_text_and_a_progress_bar_updates_in_place(page: Page, site: dict[str, Any]) -> None:
    """ANSI colours in a driver log show as coloured spans (no escape characters, no markup from data);
    the successive states of a progress bar (tqdm) show as one line, replaced in place as new states arrive."""
    import runlog

    run = runlog.Experiment(site["ws"], "colours").start_logging(outputs=False, display_name="colours")
    t = "2026-12-04T10:00:0{}.000Z "
    run._writer.write_log(
        t.format(0) + "\x1b[32mgreen ok\x1b[0m plain \x1b[1;31m<b>red</b>\x1b[0m\x1b]0;title\x07\n"
        + t.format(1) + "[stderr] train:  10%|█         | 10/100 [00:01<00:09]\n"
        + t.format(2) + "[stderr] train:  40%|████      | 40/100 [00:04<00:06]\n"
    )
    try:
        page.goto(site["url"] + f"/#/run/{run.id}?tab=logs")
        expect(page.locator("#log")).to_contain_text("40/100")
        text = page.locator("#log").inner_text()
        assert "\x1b" not in text and "[32m" not in text and "title" not in text
        assert "green ok plain <b>red</b>" in text and page.locator("#log b").count() == 0
        green = page.locator("#log span.ansi-fg-2", has_text="green ok")
        assert green.evaluate("e => getComputedStyle(e).color") == "rgb(74, 222, 128)"
        red = page.locator("#log span.ansi-fg-1", has_text="<b>red</b>")
        assert "ansi-bold" in (red.get_attribute("class") or "")
        bars = page.locator("#log span.line[data-progress]")
        expect(bars).to_have_count(1)
        assert "10/100" not in text
        run._writer.write_log(t.format(3) + "[stderr] train:  70%|███████   | 70/100 [00:07<00:03]\n")
        expect(page.locator("#log")).to_contain_text("70/100", timeout=10_000)
        expect(bars).to_have_count(1)
        assert "40/100" not in page.locator("#log").inner_text()
        shot(page, "log-ansi-progress")
        page.fill("#log-search", "green")
        assert page.locator("#log mark").count() == 1 and page.locator("#log mark").inner_text() == "green"
    finally:
        run.complete()


def test_titles_favicon_dark_mode_and_state_surviving_a_reload(browser: Browser, site: dict[str, Any]) -> None:
    """Page titles name the run; the favicon is served; dark mode follows the system preference; the runs
    table's sort and the charts' x axis are in the URL and survive a reload."""
    import httpx

    context = browser.new_context(viewport={"width": 1400, "height": 900}, color_scheme="dark")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        a = site["alpha"]
        page.goto(site["url"] + "/")
        page.wait_for_selector("#runs-table")
        assert page.title() == "Runs · runlog"
        assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(18, 21, 28)"
        icon = page.locator('link[rel="icon"]').get_attribute("href")
        resp = httpx.get(site["url"] + str(icon))
        assert resp.status_code == 200 and resp.headers["content-type"].startswith("image/svg")
        page.click('#runs-table th[data-sort="m:loss"]')
        expect(page).to_have_url(re.compile("order_by=metrics.%60loss%60\\+ASC"))
        before = _rows(page)
        page.reload()
        page.wait_for_selector("#runs-table")
        assert _rows(page) == before
        assert "▲" in page.locator('#runs-table th[data-sort="m:loss"]').inner_text()
        page.goto(site["url"] + f"/#/run/{a.id}?tab=charts")
        page.wait_for_selector('[data-chart="loss"] .uplot')
        assert page.title() == "alpha · charts · runlog"
        page.select_option("#x-axis", "relative")
        expect(page).to_have_url(re.compile("x=relative"))
        page.reload()
        page.wait_for_selector('[data-chart="loss"] .uplot')
        assert page.locator("#x-axis").input_value() == "relative"
        shot(page, "run-charts-dark")
    finally:
        context.close()
    assert errors == []


def test_file_previews_csv_table_json_pretty_human_sizes_and_a_link_per_file(page: Page, site: dict[str, Any], tmp_path: Path) -> None:
    """The files tab shows a CSV as a table, JSON pretty-printed, text with line numbers, sizes in KB/MB,
    and each file has a link that opens it directly (also after a reload)."""
    import runlog

    run = runlog.Experiment(site["ws"], "previews").start_logging(outputs=False, display_name="previews")
    files = {
        "outputs/scores.csv": 'epoch,loss,note\n1,0.5,"a, b"\n2,0.25,"<b>x</b>"\n',
        "outputs/config.json": '{"lr":0.01,"layers":[64,10]}',
        "outputs/big.txt": "x" * 3000 + "\nsecond line\n",
    }
    for name, text in files.items():
        path = tmp_path / name.split("/")[-1]
        path.write_text(text)
        run.upload_file(name, str(path))
    run.complete()
    page.goto(site["url"] + f"/#/run/{run.id}?tab=files")
    big = page.locator('#file-tree li[data-file="outputs/big.txt"]')
    expect(big).to_contain_text("2.9 KB")
    page.click('#file-tree li[data-file="outputs/scores.csv"] .name')
    table = page.locator("#file-table")
    expect(table).to_be_visible()
    assert table.locator("thead th").all_inner_texts() == ["epoch", "loss", "note"]
    assert table.locator("tbody tr").nth(0).locator("td").all_inner_texts() == ["1", "0.5", "a, b"]
    assert table.locator("tbody tr").nth(1).locator("td").nth(2).inner_text() == "<b>x</b>" and table.locator("b").count() == 0
    expect(page).to_have_url(re.compile("file=outputs%2Fscores.csv"))
    page.click('#file-tree li[data-file="outputs/config.json"] .name')
    expect(page.locator("#file-text")).to_contain_text('"layers": [')
    assert '  "lr": 0.01' in page.locator("#file-text").inner_text()
    page.click('#file-tree li[data-file="outputs/big.txt"] .name')
    expect(page.locator("#file-text .ln")).to_have_count(2)
    href = page.locator("#file-link").get_attribute("href")
    page.goto(site["url"] + "/")
    page.goto(site["url"] + "/" + str(href))
    expect(page.locator("#file-viewer strong")).to_have_text("outputs/big.txt")
    shot(page, "file-preview")


def test_selection_and_log_search_survive_a_reload(page: Page, site: dict[str, Any]) -> None:
    """Runs ticked on the runs page and the log view's search are in the URL: a reload restores them."""
    a, b = site["alpha"].id, site["beta"].id
    page.goto(site["url"] + "/")
    page.wait_for_selector("#runs-table")
    page.check(f'input.select-run[data-run="{a}"]')
    page.check(f'input.select-run[data-run="{b}"]')
    expect(page).to_have_url(re.compile("selected="))
    page.reload()
    page.wait_for_selector("#runs-table")
    assert page.locator(f'input.select-run[data-run="{a}"]').is_checked() and page.locator(f'input.select-run[data-run="{b}"]').is_checked()
    expect(page.locator("#compare")).to_have_text("Compare 2 run(s)")
    page.goto(site["url"] + f"/#/run/{a}?tab=logs")
    expect(page.locator("#log")).to_contain_text("epoch 1 done")
    page.fill("#log-search", "epoch")
    expect(page).to_have_url(re.compile("q=epoch"))
    page.reload()
    expect(page.locator("#log mark")).to_have_count(1)
    assert page.locator("#log-search").input_value() == "epoch"
    assert "alert(1)" not in page.locator("#log").inner_text()


# -- runs table for deciding, paging, compare, chart settings, image steps (issues 15 and 18) ----------------


def test_runs_table_groups_picker_pinned_name_and_order_by_survive_a_reload(browser: Browser, site: dict[str, Any]) -> None:
    """Columns come in groups (metrics, parameters: properties and single values, attributes); the column picker
    hides columns; the run name stays in place while the table scrolls right; a header click sorts on the server
    (order_by in the URL); hidden columns and the order survive a reload."""
    context = browser.new_context(viewport={"width": 760, "height": 700})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        a, b = site["alpha"].id, site["beta"].id
        page.goto(site["url"] + "/")
        page.wait_for_selector("#runs-table")
        assert "g-metrics" in (page.locator('#runs-table th[data-sort="m:loss"]').get_attribute("class") or "")
        assert "g-params" in (page.locator('#runs-table th[data-sort="m:acc"]').get_attribute("class") or "")  # one value: a parameter
        assert "g-params" in (page.locator('#runs-table th[data-sort="p:seed"]').get_attribute("class") or "")  # a property
        assert page.locator("#runs-table th.group").all_inner_texts() == ["METRICS", "PARAMETERS", "ATTRIBUTES"]
        assert page.locator(f'tr[data-run="{a}"] td[data-param="seed"]').inner_text() == "42"
        # pinned: scrolling right moves the metric cells, not the run name
        name = page.locator(f'tr[data-run="{a}"] td.run-name')
        tags = page.locator(f'tr[data-run="{a}"] td.tags')
        x_name, x_tags = name.bounding_box()["x"], tags.bounding_box()["x"]  # type: ignore[index]
        page.locator("#runs-scroll").evaluate("e => { e.scrollLeft = e.scrollWidth; }")
        page.wait_for_timeout(100)
        assert name.bounding_box()["x"] == x_name  # type: ignore[index]
        assert tags.bounding_box()["x"] < x_tags - 100  # type: ignore[index]
        on_top = "([sel, x, y]) => !!document.elementFromPoint(x, y)?.closest(sel)"  # drawn above what scrolled under it
        for cell, sel in ((name, "td.run-name"), (page.locator('#runs-table th[data-sort="display_name"]'), 'th[data-sort="display_name"]')):
            box = cell.bounding_box()
            assert box is not None and page.evaluate(on_top, [sel, box["x"] + 8, box["y"] + box["height"] / 2])
        # the column picker
        page.click("#column-picker summary")
        page.uncheck('#column-picker input.col-toggle[value="tags"]')
        page.uncheck('#column-picker input.col-toggle[value="experiment"]')
        expect(page.locator('#runs-table th[data-sort="tags"]')).to_have_count(0)
        assert page.locator('#runs-table th[data-sort="experiment"]').count() == 0
        expect(page).to_have_url(re.compile("hide=tags%2Cexperiment"))
        page.click("#column-picker summary")
        # sort descending by loss, on the server
        page.click('#runs-table th[data-sort="m:loss"]')
        page.click('#runs-table th[data-sort="m:loss"]')
        expect(page).to_have_url(re.compile("order_by=metrics.%60loss%60\\+DESC"))
        order = _rows(page)
        assert [r for r in order if r in (a, b)] == [b, a]  # last loss 0.6 before 0.5
        shot(page, "runs-table-narrow")
        page.reload()
        page.wait_for_selector("#runs-table")
        assert _rows(page) == order
        assert "▼" in page.locator('#runs-table th[data-sort="m:loss"]').inner_text()
        assert page.locator('#runs-table th[data-sort="tags"]').count() == 0
        page.click("#column-picker summary")
        assert not page.locator('#column-picker input.col-toggle[value="tags"]').is_checked()
    finally:
        context.close()
    assert errors == []


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A store of 300 small runs whose `score` (a permutation of 0..299) is not in the order they were made."""
    import runlog

    store = tmp_path_factory.mktemp("ui-sweep") / "store"
    exp = runlog.Experiment(runlog.Workspace(store), "sweep")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(os, "fsync", lambda fd: None)  # seeding only: durability is not what this test is about
        for i in range(300):
            run = exp.start_logging(outputs=False, display_name=f"run-{i:03d}")
            run.log("score", (i * 7) % 300)
            run.complete()
    with serve(store) as url:
        yield url


def test_runs_table_pages_and_keeps_only_the_rows_in_view(browser: Browser, sweep: str) -> None:
    """300 runs in pages of 30: the table fetches pages as it scrolls (not all of them), keeps a bounded number
    of rows in the DOM, and the rows come sorted by the server (order_by), wherever one scrolls to."""
    context = browser.new_context(viewport={"width": 1200, "height": 800})
    context.add_init_script("window.RUNLOG_RUNS_PAGE = 30")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if "/api/runs?" in r.url else None)
    try:
        page.goto(sweep + "/#/?order_by=metrics.%60score%60+ASC")
        page.wait_for_selector("#runs-table tr[data-run]")
        expect(page.locator("#run-count")).to_have_text("300 run(s)")
        rows = page.locator("#runs-table tbody tr")
        assert 10 < rows.count() <= 60
        scores = lambda: [int(t) for t in page.locator('#runs-table tbody tr[data-run] td[data-metric="score"]').all_inner_texts()]  # noqa: E731
        assert scores()[:5] == [0, 1, 2, 3, 4]
        assert len(asked) == 1 and "max_results=30" in asked[0]
        # jump to the middle: the page holding it is fetched, the rows there are the middle of the order
        page.locator("#runs-scroll").evaluate("e => { e.scrollTop = e.scrollHeight / 2; }")
        page.wait_for_selector('#runs-table tr[data-index="145"][data-run]')
        expect(page.locator("#runs-table tbody tr.placeholder")).to_have_count(0)
        middle = scores()
        assert middle == list(range(middle[0], middle[0] + len(middle))) and 110 < middle[0] < 150
        assert rows.count() <= 60
        # to the end: the last runs, and still only some of the pages were asked for
        page.locator("#runs-scroll").evaluate("e => { e.scrollTop = e.scrollHeight; }")
        expect(page.locator("#runs-table tbody tr[data-run]").last.locator('td[data-metric="score"]')).to_have_text("299")
        assert rows.count() <= 60
        pages = {re.search(r"page_token=([^&]+)", u).group(1) if "page_token" in u else "" for u in asked}  # type: ignore[union-attr]
        assert 2 < len(pages) < 8  # of 10
        shot(page, "runs-table-paged")
        # a filter goes to the server: the count is the server's
        page.fill("#filter-q", "metrics.score < 10")
        expect(page.locator("#run-count")).to_have_text("10 run(s)")
        assert sorted(scores()) == list(range(10))
    finally:
        context.close()
    assert errors == []


def test_compare_table_only_differences_and_plots_in_run_key_colours(page: Page, site: dict[str, Any]) -> None:
    """The compare page puts the runs' attributes, parameters, metrics (last/min/max) and tags side by side;
    "only differences" hides rows where every run agrees (kept in the URL); parallel coordinates and a scatter
    draw a line/dot per run in the run key's colour, as the charts do."""
    a, b = site["alpha"].id, site["beta"].id
    page.goto(f"{site['url']}/#/compare?runs={a},{b}")
    table = page.locator("#compare-table")
    expect(table).to_be_visible()
    cells = lambda key: table.locator(f'tr[data-row="{key}"] td').all_inner_texts()  # noqa: E731
    assert cells("m:loss:last") == ["0.5", "0.6"] and cells("m:loss:min") == ["0.4", "0.2"] and cells("m:loss:max") == ["0.9", "1.2"]
    assert cells("p:seed") == ["42", ""] and cells("t:lr") == ["0.1", "0.01"] and cells("m:acc") == ["0.8", "0.9"]
    assert table.locator('tr[data-row="a:experiment"]').is_visible()
    page.check("#only-diff")
    expect(table.locator('tr[data-row="a:experiment"]')).to_be_hidden()  # both mnist
    assert table.locator('tr[data-row="a:status"]').is_hidden() and table.locator('tr[data-row="m:loss:last"]').is_visible()
    expect(page).to_have_url(re.compile("diff=1"))
    key = page.locator("#run-key span[data-run] span").evaluate_all("s => s.map(e => getComputedStyle(e).color)")
    assert len(set(key)) == 2
    lines = page.locator("#parallel path.pc-line")
    expect(lines).to_have_count(2)
    assert lines.evaluate_all("ps => ps.map(p => getComputedStyle(p).stroke)") == key
    assert page.locator("#parallel text.axis-label").evaluate_all("ts => ts.map(t => t.textContent)")[-1] == "loss (last)"
    page.select_option("#scatter-x", "m:acc")
    page.select_option("#scatter-y", "m:loss:min")
    dots = page.locator("#scatter circle.dot")
    expect(dots).to_have_count(2)
    assert dots.evaluate_all("ds => ds.map(d => getComputedStyle(d).fill)") == key
    cy = dots.evaluate_all("ds => ds.map(d => Number(d.getAttribute('cy')))")
    assert cy[0] < cy[1]  # alpha's min loss 0.4 is above beta's 0.2
    loss = page.locator('#charts .card[data-chart="loss"]')
    loss.locator("canvas").wait_for()
    markers = loss.locator(".u-legend .u-series .u-marker").evaluate_all("ms => ms.slice(1).map(m => getComputedStyle(m).borderColor)")
    assert markers == key
    shot(page, "compare-table-plots")
    page.reload()
    expect(page.locator("#only-diff")).to_be_checked()
    assert page.locator("#scatter-x").input_value() == "m:acc"


def test_smoothing_log_scale_outliers_and_ticks_change_what_is_drawn(page: Page, site: dict[str, Any]) -> None:
    """Smoothing redraws a series as its moving average (the raw line kept, out of the legend), log y puts the
    axis on a log scale, hiding outliers drops a spike from the y range; the settings are in the URL; tick labels
    never repeat."""
    page.goto(f"{site['url']}/#/run/{site['long'].id}?tab=charts")
    card = page.locator('.card[data-chart="wave"]')
    card.locator("canvas").wait_for()
    pixels = lambda: card.locator("canvas").evaluate("c => c.toDataURL()")  # noqa: E731
    chart_state = lambda: page.evaluate("() => { const c = App.charts.find(c => c.root.closest('[data-chart=wave]')); return {distr: c.scales.y.distr, max: c.scales.y.max, series: c.series.length}; }")  # noqa: E731
    raw, state = pixels(), chart_state()
    assert state["distr"] == 1 and state["max"] > 4 and state["series"] == 2  # the spike of +5
    page.locator("#smoothing").evaluate("s => { s.value = '0.9'; s.dispatchEvent(new Event('input')); }")
    expect(card.locator(".chart")).to_have_attribute("data-smoothed", "0.9")
    assert pixels() != raw and chart_state()["series"] == 3  # x, the smoothed line, the raw line
    assert card.locator(".u-legend .u-series:visible").count() == 2
    smoothed = pixels()
    page.check("#hide-outliers")
    page.wait_for_function("() => App.charts.some(c => c.root.closest('[data-chart=wave]') && c.scales.y.max < 3)")
    page.check("#log-y")
    page.wait_for_function("() => App.charts.some(c => c.root.closest('[data-chart=wave]') && c.scales.y.distr === 3)")
    expect(card.locator(".chart")).to_have_attribute("data-log-y", "1")
    assert pixels() != smoothed
    for part in ("smooth=0.9", "logy=1", "outliers=hide"):
        assert part in page.url
    page.reload()
    card.locator("canvas").wait_for()
    assert page.locator("#log-y").is_checked() and page.locator("#smoothing").input_value() == "0.9"
    shot(page, "chart-smoothing")
    page.fill("#x-min", "5000")
    page.fill("#x-max", "6000")
    page.locator("#x-max").dispatch_event("change")
    page.wait_for_function("() => App.charts.some(c => c.root.closest('[data-chart=wave]') && c.scales.x.min === 5000 && c.scales.x.max === 6000)")
    expect(card.locator(".muted.small")).to_contain_text("of 20000 points")  # the range fetched at full detail
    labels = page.evaluate("() => [tickLabels([0.001, 0.0015, 0.002, 0.0025], 0.0005), tickLabels([0, 0.2, 0.4, 0.6000000000000001], 0.2), tickLabels([1e-4, 2e-4], 1e-4)]")
    assert labels == [["0.001", "0.0015", "0.002", "0.0025"], ["0", "0.2", "0.4", "0.6"], ["0.0001", "0.0002"]]


def test_images_logged_with_a_step_can_be_scrubbed(page: Page, site: dict[str, Any], tmp_path: Path) -> None:
    """Images logged under one name with steps show one figure with its step and a slider through the steps
    (newest first); the chosen step is in the URL."""
    from ui_helpers import PNG, _tmp_file

    import runlog

    run = runlog.Experiment(site["ws"], "images").start_logging(outputs=False, display_name="pictures")
    for step in (0, 10, 20):
        run.log_image("samples", path=_tmp_file(tmp_path / "store", PNG, suffix=".png"), step=step)
    with pytest.raises(ValueError, match="whole number"):
        run.log_image("samples", path=_tmp_file(tmp_path / "store", PNG, suffix=".png"), step=-1)
    run.complete()
    page.goto(f"{site['url']}/#/run/{run.id}?tab=images")
    figure = page.locator('#gallery figure[data-image="samples"]')
    expect(figure.locator("figcaption")).to_contain_text("step 20 (3 of 3)")
    src = figure.locator("img").get_attribute("src")
    figure.locator("input.image-step").evaluate("s => { s.value = '1'; s.dispatchEvent(new Event('input')); }")
    expect(figure.locator("figcaption")).to_contain_text("step 10 (2 of 3)")
    assert figure.locator("img").get_attribute("src") != src
    expect(page).to_have_url(re.compile("step.samples=10"))
    page.reload()
    expect(page.locator('#gallery figure[data-image="samples"] figcaption')).to_contain_text("step 10")
