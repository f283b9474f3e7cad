"""A measured prototype (issue 19), not runlog's code: a tagged record's values packed by a C function.

    .venv/bin/python benchmarks/bench_packer_c.py [--records 30000] [--repeat 9]

The question: would packing a tagged record's values in C (the dict look-ups, the class checks, the
32-byte records and their CRC checks, one call) bring ``RunHandler`` to issue 19's target for tagged
records (<= 0.9x the same record through ``logging.FileHandler``)? This script compiles a small C
function with the machine's ``gcc`` and Python headers into a temporary folder (nothing is installed),
checks that it gives the same bytes as runlog's packer (``runlog._store.records.group_packer``), swaps
it in as the run writer's packer (``RunWriter._packer``, which ``RunHandler.handle`` calls), nothing
else, and measures side by side in one run (CPU time of this process, median of interleaved rounds;
ratios paired within a round):

- a tagged record (two metrics) through ``logging.FileHandler`` (``RunFormatter``): the baseline;
- the same record through ``RunHandler``, values packed by runlog's packer (Python, generated per group);
- the same record through ``RunHandler``, values packed by the C function.

The C function assumes a little-endian machine (as x86-64 and arm64 Linux are); it is a prototype.
"""

from __future__ import annotations

import argparse
import functools
import importlib.machinery
import importlib.util
import logging
import os
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

C_SOURCE = r"""
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>
#include <zlib.h>

/* pack(spec, values, st, now), spec = (names, ids, kinds): what runlog's group packer returns for the same
   arguments (the records of values[name] for each name, each with its CRC check), None for a dict of
   another size or a value of another class; KeyError for a name missing; OverflowError beyond 64 bits. */
static PyObject *pack(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 4 || !PyTuple_Check(args[0]) || PyTuple_GET_SIZE(args[0]) != 3) {
        PyErr_SetString(PyExc_TypeError, "pack(spec, values, st, now)");
        return NULL;
    }
    PyObject *names = PyTuple_GET_ITEM(args[0], 0), *ids = PyTuple_GET_ITEM(args[0], 1), *kinds = PyTuple_GET_ITEM(args[0], 2);
    PyObject *values = args[1];
    Py_ssize_t n = PyTuple_GET_SIZE(names);
    if (!PyDict_CheckExact(values) || PyDict_GET_SIZE(values) != n) Py_RETURN_NONE;
    int overflow = 0;
    long long st = PyLong_AsLongLongAndOverflow(args[2], &overflow);
    if (overflow) { PyErr_SetString(PyExc_OverflowError, "step beyond 64 bits"); return NULL; }
    if (st == -1 && PyErr_Occurred()) return NULL;
    double now = PyFloat_AsDouble(args[3]);
    if (now == -1.0 && PyErr_Occurred()) return NULL;
    PyObject *out = PyBytes_FromStringAndSize(NULL, 32 * n);
    if (out == NULL) return NULL;
    unsigned char *buf = (unsigned char *)PyBytes_AS_STRING(out);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *name = PyTuple_GET_ITEM(names, i);
        PyObject *v = PyDict_GetItemWithError(values, name);
        if (v == NULL) {
            if (!PyErr_Occurred()) PyErr_SetObject(PyExc_KeyError, name);
            Py_DECREF(out);
            return NULL;
        }
        uint32_t nid = (uint32_t)PyLong_AsUnsignedLong(PyTuple_GET_ITEM(ids, i));
        uint32_t kind = (uint32_t)PyLong_AsUnsignedLong(PyTuple_GET_ITEM(kinds, i));
        unsigned char *rec = buf + 32 * i;
        if (kind == 0) {
            if (!PyFloat_CheckExact(v)) { Py_DECREF(out); Py_RETURN_NONE; }
            double d = PyFloat_AS_DOUBLE(v);
            memcpy(rec + 8, &d, 8);
        } else {
            if (!PyLong_CheckExact(v)) { Py_DECREF(out); Py_RETURN_NONE; }
            long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
            if (overflow) { PyErr_SetString(PyExc_OverflowError, "int beyond 64 bits"); Py_DECREF(out); return NULL; }
            memcpy(rec + 8, &x, 8);
        }
        memcpy(rec, &nid, 4);
        memcpy(rec + 4, &kind, 4);
        memcpy(rec + 16, &st, 8);
        memcpy(rec + 24, &now, 8);
        uint32_t crc = (uint32_t)crc32(0L, rec, 32);
        uint32_t word = kind | ((crc | 0x80000000u) & 0xFFFFFF00u);
        memcpy(rec + 4, &word, 4);
    }
    return out;
}

static PyMethodDef methods[] = {{"pack", (PyCFunction)(void (*)(void))pack, METH_FASTCALL, NULL}, {NULL, NULL, 0, NULL}};
static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_runlog_packer_prototype", NULL, -1, methods};
PyMODINIT_FUNC PyInit__runlog_packer_prototype(void) { return PyModule_Create(&module); }
"""


def build(folder: Path) -> Any:
    """The C function, compiled into ``folder`` with gcc and imported (SystemExit saying why when it cannot be)."""
    gcc = shutil.which("gcc") or shutil.which("cc")
    include = sysconfig.get_paths()["include"]
    if gcc is None or not Path(include, "Python.h").exists():
        raise SystemExit(f"bench_packer_c needs gcc and Python's headers ({include}/Python.h)")
    source = folder / "packer.c"
    source.write_text(C_SOURCE)
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    target = folder / f"_runlog_packer_prototype{suffix}"
    subprocess.run([gcc, "-O2", "-shared", "-fPIC", f"-I{include}", str(source), "-o", str(target), "-lz"], check=True)
    spec = importlib.util.spec_from_file_location("_runlog_packer_prototype", target)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=30_000)
    parser.add_argument("--repeat", type=int, default=9)
    args = parser.parse_args()
    n, repeat = args.records, args.repeat
    tmp = Path(tempfile.mkdtemp(prefix="runlog-bench-packer-"))
    os.environ["RUNLOG_STORE"] = str(tmp / "store")
    native = build(tmp)

    import runlog
    from runlog._store.layout import T_FLOAT
    from runlog.stdlib import RunFormatter

    run = runlog.Experiment(runlog.Workspace(), "bench").start_logging(outputs=False)
    writer = run._writer
    warm = logging.getLogger("bench.packer.warm")
    warm.handlers[:] = [runlog.RunHandler()]
    warm.propagate = False
    warm.setLevel(logging.INFO)
    for i in range(3):  # defines the names and compiles runlog's packer for the group
        warm.info("warm", extra={"metrics": {"loss": 0.5, "acc": 0.25}, "step": i})
    python_packer = writer._packer
    assert python_packer is not None
    names = ("loss", "acc")
    c_packer = functools.partial(native.pack, (names, tuple(writer._ids[k] for k in names), (T_FLOAT, T_FLOAT)))
    for values, st, now in [({"loss": 0.5, "acc": 0.25}, 3, 1.5), ({"loss": -1e300, "acc": float("inf")}, -7, time.time())]:
        assert c_packer(values, st, now) == python_packer(values, st, now), "the C function packs other bytes"
    assert c_packer({"loss": 1.0}, 1, 1.0) is None and c_packer({"loss": 1.0, "acc": 2}, 1, 1.0) is None

    counter = iter(range(10**9))

    def file_handler() -> logging.Handler:
        h = logging.FileHandler(tmp / f"file-{next(counter)}.log")
        h.setFormatter(RunFormatter())
        return h

    def tagged(make: Callable[[], logging.Handler], packer: Any) -> Callable[[], float]:
        def once() -> float:
            writer._packer = packer
            handler = make()
            log = logging.getLogger(f"bench.packer.{next(counter)}")
            log.handlers[:] = [handler]
            log.setLevel(logging.INFO)
            log.propagate = False
            info = log.info
            t0 = time.process_time()
            for i in range(n):
                info("epoch %d done", i, extra={"metrics": {"loss": 0.5, "acc": 0.25}, "step": i})
            elapsed = time.process_time() - t0
            handler.close()
            log.removeHandler(handler)
            writer._packer = python_packer
            return elapsed

        return once

    cases: dict[str, Callable[[], float]] = {
        "FileHandler tagged": tagged(file_handler, python_packer),
        "RunHandler tagged, runlog's packer": tagged(runlog.RunHandler, python_packer),
        "RunHandler tagged, the C function": tagged(runlog.RunHandler, c_packer),
    }
    samples: dict[str, list[float]] = {label: [] for label in cases}
    labels = list(cases)
    for round_no in range(repeat):
        shift = round_no % len(labels)
        for label in labels[shift:] + labels[:shift]:
            samples[label].append(cases[label]() / n * 1e6)
    history = run.get_metric_history("loss")
    run.complete()
    assert len(history) == 3 + 2 * n * repeat, "values were lost"

    def paired(a: str, b: str) -> float:
        return statistics.median(x / y for x, y in zip(samples[a], samples[b]))

    print(f"### Tagged values packed in C: a prototype ({n:,} records x {repeat} rounds; Python {sys.version.split()[0]})\n")
    print("| case | CPU µs/record (median) | min | baseline | ratio (paired) |")
    print("|---|---:|---:|---|---:|")
    rows = [
        ("FileHandler tagged", "FileHandler tagged"),
        ("RunHandler tagged, runlog's packer", "FileHandler tagged"),
        ("RunHandler tagged, the C function", "FileHandler tagged"),
        ("RunHandler tagged, the C function", "RunHandler tagged, runlog's packer"),
    ]
    for label, baseline in rows:
        v = samples[label]
        print(f"| {label} | {statistics.median(v):.2f} | {min(v):.2f} | {baseline} | {paired(label, baseline):.3f} |")


if __name__ == "__main__":
    main()
