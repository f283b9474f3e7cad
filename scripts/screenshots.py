"""The viewer's screenshots in docs/images/, taken from a demo store in real Chromium.

    python scripts/screenshots.py [--out docs/images] [--keep-store PATH]

Builds a small sweep (eight runs of a made-up training with different learning rates and batch sizes,
a driver log with colours and a progress bar, images logged with a step), serves it with `runlog ui`'s
app on 127.0.0.1 and photographs the runs table, the compare page, a chart with smoothing and the
driver log; then a two-rank run (two real rank processes, in a store of its own) with every rank's loss on
one chart. Needs the `ui` extra and Playwright with a Chromium (Debian's `chromium`, or Playwright's).
"""

from __future__ import annotations

import argparse
import math
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import runlog  # noqa: E402

SHOTS = ("runs-table", "compare", "chart-smoothing", "driver-log", "chart-ranks")
GREEN, RED, BOLD, RESET = "\x1b[32m", "\x1b[31m", "\x1b[1m", "\x1b[0m"


def build_store(store: Path) -> list[runlog.Run]:
    """Eight finished runs of a sweep over lr x batch size: noisy loss/accuracy series, final scores, tags."""
    ws = runlog.Workspace(store)
    exp = runlog.Experiment(ws, "mnist-sweep")
    rng = random.Random(7)
    made = []
    for i, (lr, batch) in enumerate([(lr, b) for lr in (0.001, 0.003, 0.01, 0.03) for b in (32, 128)]):
        run = exp.start_logging(outputs=False, display_name=f"sgd-lr{lr}-b{batch}")
        run.add_properties({"lr": str(lr), "batch_size": str(batch), "optimizer": "sgd"})
        run.tag("sweep", "lr-batch")
        if i % 3 == 0:
            run.tag("baseline")
        speed = math.log10(lr / 0.0003) * (1.2 if batch == 32 else 1.0)
        loss = 2.3
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
        lines = [f"{stamp} {GREEN}INFO{RESET} loading MNIST (60,000 images)", f"{stamp} {GREEN}INFO{RESET} model: 1.2M parameters, lr={lr}, batch={batch}"]
        bars, infos = [], []
        for step in range(300):
            loss = max(0.05, loss * (1 - 0.012 * speed) + rng.gauss(0, 0.04))
            run.log("loss", loss, step=step)
            if step % 10 == 9:
                run.log("val_loss", loss * 1.08 + rng.gauss(0, 0.02), step=step)
                run.log("accuracy", min(0.995, 1 - loss / 2.6 + rng.gauss(0, 0.005)), step=step)
            if step % 50 == 49:
                stamp = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
                infos.append(f"{stamp} {GREEN}INFO{RESET} step {step + 1}: loss {loss:.4f}")
            if step % 30 == 29:  # a tqdm bar redrawn: the viewer shows its states as one line, updated in place
                bar = "█" * ((step + 1) // 30) + " " * (10 - (step + 1) // 30)
                bars.append(f"{stamp} [stderr] train: {(step + 1) * 100 // 300:3d}%|{bar}| {step + 1}/300 [00:{(step + 1) // 10:02d}<00:30]")
        lines += bars + infos
        run.log("test_accuracy", round(1 - loss / 2.8, 4), description="accuracy on the held-out test set")
        run.log("params_millions", 1.2)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
        warn = f"{stamp} {BOLD}{RED}WARNING{RESET} loss plateaued" if loss > 0.5 else f"{stamp} {GREEN}{BOLD}done{RESET}"
        run._writer.write_log("\n".join([*lines, warn]) + "\n")
        made.append(run)
        run.complete()
    return made


RANK_TRAINING = """
import math, os, random
import runlog
run = runlog.Run.get_context()
rank = int(os.environ["RANK"])
rng = random.Random(rank)
loss = 2.3
for step in range(200):
    loss = max(0.05, loss * (0.985 - 0.003 * rank) + rng.gauss(0, 0.03))
    run.log("loss", loss, step=step)
    if step % 20 == 19:
        run.log("grad_norm", 1.5 * math.exp(-step / 120) + rng.gauss(0, 0.05) + 0.2 * rank, step=step)
"""


def build_rank_store(store: Path) -> runlog.Run:
    """A finished run whose metrics two rank processes logged (as `runlog submit --nproc 2` starts them)."""
    exp = runlog.Experiment(runlog.Workspace(store), "ddp")
    run = exp.start_logging(outputs=False, snapshot_directory=None, display_name="ddp-2-ranks")
    for rank in (0, 1):
        env = {**os.environ, "RUNLOG_RUN_ID": run.id, "RUNLOG_STORE": str(store), "RUNLOG_EXPERIMENT": "ddp",
               "RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": "2", "PYTHONPATH": str(ROOT)}  # fmt: skip
        subprocess.run([sys.executable, "-c", RANK_TRAINING], env=env, check=True, timeout=120)
    run.complete()
    return run


@contextmanager
def serve(store: Path) -> Iterator[str]:
    import uvicorn

    from runlog.ui import create_app

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(create_app(store), log_level="warning", access_log=False, lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the viewer did not start within 15 s")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def take(out: Path, store: Path, runs: list[runlog.Run], rank_store: Path, ranked: runlog.Run) -> None:
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    out.mkdir(parents=True, exist_ok=True)
    with serve(store) as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=["--headless", "--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1440, "height": 820})
        page.goto(url + "/#/?order_by=metrics.%60test_accuracy%60+DESC")
        page.wait_for_selector('#runs-scroll[aria-busy="false"] tr[data-run]')
        page.screenshot(path=str(out / "runs-table.png"))

        chosen = ",".join(r.id for r in runs[2:7:2])
        page.set_viewport_size({"width": 1440, "height": 1500})
        page.goto(f"{url}/#/compare?runs={chosen}&diff=1&pc=m:val_loss:last&sx=p:lr&sy=m:test_accuracy")
        page.wait_for_selector("#scatter circle")
        page.locator('#charts .card[data-chart="loss"] canvas').wait_for()
        page.screenshot(path=str(out / "compare.png"))

        page.set_viewport_size({"width": 1440, "height": 820})
        page.goto(f"{url}/#/run/{runs[4].id}?tab=charts&smooth=0.8")
        page.locator('#charts .card[data-chart="loss"] canvas').wait_for()
        page.wait_for_timeout(300)
        page.screenshot(path=str(out / "chart-smoothing.png"))

        page.goto(f"{url}/#/run/{runs[0].id}?tab=logs")
        page.wait_for_selector("#log span.line")
        page.screenshot(path=str(out / "driver-log.png"))
        with serve(rank_store) as rank_url:
            page.set_viewport_size({"width": 1440, "height": 720})
            page.goto(f"{rank_url}/#/run/{ranked.id}?tab=charts&rank=all")
            page.locator('#charts .card[data-chart="loss"] canvas').wait_for()
            page.wait_for_timeout(300)
            page.screenshot(path=str(out / "chart-ranks.png"))
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images")
    parser.add_argument("--keep-store", type=Path, help="build the demo store here and keep it (default: a temporary folder)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="runlog-shots-") as tmp:
        store = args.keep_store or Path(tmp) / "store"
        runs = build_store(store)
        rank_store = Path(tmp) / "rank-store"
        take(args.out, store, runs, rank_store, build_rank_store(rank_store))
    for name in SHOTS:
        print(args.out / f"{name}.png")


if __name__ == "__main__":
    main()
