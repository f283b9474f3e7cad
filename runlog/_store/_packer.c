/* runlog._store._packer: a tagged record's values packed as points records, in C.
 *
 * pack(spec, values, st, now), spec = (names, ids, kinds) (tuples of str, int, int): the bytes of
 * runlog._store.records' generated group packer for the same arguments (see group_packer there): for
 * each name, the 32-byte record <IIdqd (id, type word, value, step, time) whose type word holds the
 * kind in its low byte and (CRC-32 of the record with the word's high bytes zero | 1 << 31) & 0xFFFFFF00
 * in its high bytes. None for a dict of another size or a value of another class (exactly float for
 * kind 0, exactly int otherwise; a dict subclass or another mapping too: the caller then packs it the
 * careful way); KeyError for a name missing; struct.error beyond 64 bits (a value, the step, the time) or
 * for a step or time of another type. VERSION: records.py loads only the version it was written for (an
 * editable install keeps a module built from an older source until it is installed again).
 * Built at install time when a C compiler is there (hatch_build.py); records.py falls back to the
 * Python packer without it. Little-endian machines only (records.py does not load it elsewhere).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

static uint32_t crc_table[256];
static PyObject *struct_error;

static void make_crc_table(void) {
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[n] = c;
    }
}

static uint32_t crc32_of(const unsigned char *p, size_t len) {  /* zlib.crc32(bytes(p[:len])) */
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < len; i++) c = crc_table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

static PyObject *to_struct_error(void) {  /* the pending error as struct.error (what struct.pack raises) */
    PyErr_Clear();
    PyErr_SetString(struct_error, "argument out of range or of another type (a step, time or int beyond 64 bits)");
    return NULL;
}

static PyObject *pack(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 4 || !PyTuple_CheckExact(args[0]) || PyTuple_GET_SIZE(args[0]) != 3) {
        PyErr_SetString(PyExc_TypeError, "pack(spec, values, st, now) with spec = (names, ids, kinds)");
        return NULL;
    }
    PyObject *names = PyTuple_GET_ITEM(args[0], 0), *ids = PyTuple_GET_ITEM(args[0], 1), *kinds = PyTuple_GET_ITEM(args[0], 2);
    if (!PyTuple_CheckExact(names) || !PyTuple_CheckExact(ids) || !PyTuple_CheckExact(kinds)
        || PyTuple_GET_SIZE(ids) != PyTuple_GET_SIZE(names) || PyTuple_GET_SIZE(kinds) != PyTuple_GET_SIZE(names)) {
        PyErr_SetString(PyExc_TypeError, "spec: (names, ids, kinds), tuples of one length");
        return NULL;
    }
    PyObject *values = args[1];
    Py_ssize_t n = PyTuple_GET_SIZE(names);
    /* A dict subclass or another mapping: None (the caller packs it the careful way). */
    if (!PyDict_CheckExact(values) || PyDict_GET_SIZE(values) != n) Py_RETURN_NONE;
    /* First every name looked up (a missing one: KeyError) and every class checked (another: None), as the
       Python packer reads all values and then tests their classes; only then the numbers converted, any
       failure there being struct.error, as from struct.pack. */
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *name = PyTuple_GET_ITEM(names, i);
        if (PyDict_GetItemWithError(values, name) == NULL) {
            if (!PyErr_Occurred()) PyErr_SetObject(PyExc_KeyError, name);
            return NULL;
        }
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *v = PyDict_GetItemWithError(values, PyTuple_GET_ITEM(names, i));
        if (v == NULL) return PyErr_Occurred() ? NULL : (PyErr_SetObject(PyExc_KeyError, PyTuple_GET_ITEM(names, i)), NULL);
        long kind = PyLong_AsLong(PyTuple_GET_ITEM(kinds, i));
        if (kind == -1 && PyErr_Occurred()) return NULL;
        if (kind == 0 ? !PyFloat_CheckExact(v) : !PyLong_CheckExact(v)) Py_RETURN_NONE;
    }
    int overflow = 0;
    long long st = PyLong_AsLongLongAndOverflow(args[2], &overflow);
    if (overflow || (st == -1 && PyErr_Occurred())) return to_struct_error();
    double now = PyFloat_AsDouble(args[3]);
    if (now == -1.0 && PyErr_Occurred()) return to_struct_error();
    PyObject *out = PyBytes_FromStringAndSize(NULL, 32 * n);
    if (out == NULL) return NULL;
    unsigned char *buf = (unsigned char *)PyBytes_AS_STRING(out);
    for (Py_ssize_t i = 0; i < n; i++) {
        /* (looked up again: converting the step or time above may have run Python code) */
        PyObject *v = PyDict_GetItemWithError(values, PyTuple_GET_ITEM(names, i));
        if (v == NULL) {
            if (!PyErr_Occurred()) PyErr_SetObject(PyExc_KeyError, PyTuple_GET_ITEM(names, i));
            Py_DECREF(out);
            return NULL;
        }
        long long nid = PyLong_AsLongLong(PyTuple_GET_ITEM(ids, i));
        long kind = PyLong_AsLong(PyTuple_GET_ITEM(kinds, i));
        if (PyErr_Occurred() || nid < 0 || nid > 0xFFFFFFFFll || kind < 0 || kind > 0xFF) {
            Py_DECREF(out);
            return to_struct_error();
        }
        unsigned char *rec = buf + 32 * i;
        if (kind == 0 && PyFloat_CheckExact(v)) {
            double d = PyFloat_AS_DOUBLE(v);
            memcpy(rec + 8, &d, 8);
        } else if (kind != 0 && PyLong_CheckExact(v)) {
            long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
            if (overflow || (x == -1 && PyErr_Occurred())) {
                Py_DECREF(out);
                return to_struct_error();
            }
            memcpy(rec + 8, &x, 8);
        } else {  /* (changed meanwhile) */
            Py_DECREF(out);
            Py_RETURN_NONE;
        }
        uint32_t id32 = (uint32_t)nid, word = (uint32_t)kind;
        memcpy(rec, &id32, 4);
        memcpy(rec + 4, &word, 4);
        memcpy(rec + 16, &st, 8);
        memcpy(rec + 24, &now, 8);
        word |= (crc32_of(rec, 32) | 0x80000000u) & 0xFFFFFF00u;
        memcpy(rec + 4, &word, 4);
    }
    return out;
}

static PyMethodDef methods[] = {
    {"pack", (PyCFunction)(void (*)(void))pack, METH_FASTCALL, "pack(spec, values, st, now): see the module's source."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "runlog._store._packer", NULL, -1, methods};

PyMODINIT_FUNC PyInit__packer(void) {
#if PY_BIG_ENDIAN
    PyErr_SetString(PyExc_ImportError, "runlog._store._packer writes little-endian records only");
    return NULL;
#else
    PyObject *struct_module = PyImport_ImportModule("struct");
    if (struct_module == NULL) return NULL;
    struct_error = PyObject_GetAttrString(struct_module, "error");
    Py_DECREF(struct_module);
    if (struct_error == NULL) return NULL;
    make_crc_table();
    PyObject *m = PyModule_Create(&module);
    if (m != NULL && PyModule_AddIntConstant(m, "VERSION", 1) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
#endif
}
