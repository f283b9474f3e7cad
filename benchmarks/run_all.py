"""Run every benchmark script in this folder and write benchmarks/results.md.

    python benchmarks/run_all.py [--quick]

Each `bench_*.py` prints markdown; this collects them under one header naming the machine and
the versions of runlog and its peers. `--quick` passes smaller sizes for a fast look.
"""

from __future__ import annotations

import argparse
import datetime as dt
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _harness import machine  # noqa: E402

# script -> (full-size arguments, quick arguments)
ARGS: dict[str, tuple[list[str], list[str]]] = {
    "bench_store.py": ([], ["--n", "20000", "--points", "200000", "--repeats", "3"]),
    "bench_peers.py": ([], ["--n", "5000", "--repeats", "3"]),
    "bench_scaling.py": ([], ["--max-points", "1000000", "--per-proc", "50000"]),
    "bench_index.py": ([], ["--quick"]),
    "bench_mlflow_plugin.py": ([], ["--quick"]),
}
PEERS = ("runlog", "mlflow", "wandb", "structlog", "python-json-logger", "opentelemetry-sdk", "starlette", "uvicorn")


def versions() -> str:
    found = []
    for name in PEERS:
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            found.append(f"{name} (not installed)")
    return ", ".join(found)


def _sections(text: str) -> dict[str, str]:
    """The header ("") and each script's section of a results file, keyed by script name."""
    found: dict[str, list[str]] = {"": []}
    key = ""
    for line in text.splitlines():
        if line.startswith("## bench_"):
            key = line.split()[1]
            found[key] = []
        found[key].append(line)
    return {k: "\n".join(v) for k, v in found.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", nargs="*", help="run only these scripts")
    args = parser.parse_args()
    scripts = sorted(p.name for p in HERE.glob("bench_*.py"))
    if args.only:
        scripts = [s for s in scripts if s in args.only or s.removesuffix(".py") in args.only]
    sections = [
        "# Benchmark results\n",
        f"Written by `make bench` on {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC.\n",
        f"- machine: {machine()}",
        f"- versions: {versions()}",
        "- every figure is a median over repetitions (min and max beside it where shown); every ratio is to a "
        "baseline measured in the same run. Nothing here is a pass/fail test.\n",
    ]
    for script in scripts:
        full, quick = ARGS.get(script, ([], ["--quick"]))
        cmd = [sys.executable, str(HERE / script), *(quick if args.quick else full)]
        print(f"running {' '.join(cmd[1:])}", flush=True)
        start = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        took = time.perf_counter() - start
        body = proc.stdout.strip()
        # The machine line is in the header already.
        body = "\n".join(line for line in body.splitlines() if not line.startswith("machine: "))
        sections.append(f"## {script} ({took:.0f} s)\n")
        if proc.returncode != 0:
            tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
            sections.append(f"failed with exit code {proc.returncode}:\n\n```\n{tail}\n```\n")
        else:
            sections.append(body.strip() + "\n")
    out = HERE / "results.md"
    if args.only and out.exists():
        # Keep the other scripts' sections of the last full run; replace only what ran now.
        old = _sections(out.read_text())
        new = _sections("\n".join(sections))
        old.update({k: v for k, v in new.items() if k != ""})
        out.write_text("\n".join(old.values()))
    else:
        out.write_text("\n".join(sections))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
