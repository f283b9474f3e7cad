/* runlog._store._packer: a tagged record's values packed as points records, in C.
 *
 * pack(spec, values, st, now), spec = (names, ids, kinds) (tuples of str, int, int): the bytes of
 * runlog._store.records' generated group packer for the same arguments (see group_packer there): for
 * each name, the 32-byte record <IIdqd (id, type word, value, step, time) whose type word holds the
 * kind in its low byte and (CRC-32 of the record with the word's high bytes zero | 1 << 31) & 0xFFFFFF00
 * in its high bytes. None for a dict of another size or a value of another class (exactly float for
 * kind 0, exactly int otherwise); KeyError for a name missing; struct.error beyond 64 bits.
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
    if (!PyDict_CheckExact(values) || PyDict_GET_SIZE(values) != n) Py_RETURN_NONE;
    /* As in Python, a value of another class (None) comes before a number beyond 64 bits (struct.error). */
    int overflow = 0, too_big = 0;
    long long st = PyLong_AsLongLongAndOverflow(args[2], &too_big);
    if (st == -1 && PyErr_Occurred()) return NULL;
    double now = PyFloat_AsDouble(args[3]);
    if (now == -1.0 && PyErr_Occurred()) return NULL;
    PyObject *out = PyBytes_FromStringAndSize(NULL, 32 * n);
    if (out == NULL) return NULL;
    unsigned char *buf = (unsigned char *)PyBytes_AS_STRING(out);
    int other_class = 0;  /* (every name is looked up first: a missing one is a KeyError, as in Python) */
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *name = PyTuple_GET_ITEM(names, i);
        PyObject *v = PyDict_GetItemWithError(values, name);
        if (v == NULL) {
            if (!PyErr_Occurred()) PyErr_SetObject(PyExc_KeyError, name);
            Py_DECREF(out);
            return NULL;
        }
        if (other_class) continue;  /* (a number too big does not stop the class checks: None comes first) */
        unsigned long nid = PyLong_AsUnsignedLong(PyTuple_GET_ITEM(ids, i));
        unsigned long kind = PyLong_AsUnsignedLong(PyTuple_GET_ITEM(kinds, i));
        if (PyErr_Occurred() || nid > 0xFFFFFFFFul || kind > 0xFFul) {
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "an id beyond 32 bits or a kind beyond 8");
            Py_DECREF(out);
            return NULL;
        }
        unsigned char *rec = buf + 32 * i;
        if (kind == 0) {
            if (!PyFloat_CheckExact(v)) { other_class = 1; continue; }
            if (too_big) continue;
            double d = PyFloat_AS_DOUBLE(v);
            memcpy(rec + 8, &d, 8);
        } else {
            if (!PyLong_CheckExact(v)) { other_class = 1; continue; }
            if (too_big) continue;
            long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
            if (overflow) { too_big = 1; continue; }
            if (x == -1 && PyErr_Occurred()) { Py_DECREF(out); return NULL; }
            memcpy(rec + 8, &x, 8);
        }
        uint32_t id32 = (uint32_t)nid, word = (uint32_t)kind;
        memcpy(rec, &id32, 4);
        memcpy(rec + 4, &word, 4);
        memcpy(rec + 16, &st, 8);
        memcpy(rec + 24, &now, 8);
        word |= (crc32_of(rec, 32) | 0x80000000u) & 0xFFFFFF00u;
        memcpy(rec + 4, &word, 4);
    }
    if (other_class || too_big) {
        Py_DECREF(out);
        if (other_class) Py_RETURN_NONE;
        PyErr_SetString(struct_error, "argument out of range (an int or a step beyond 64 bits)");
        return NULL;
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
    return PyModule_Create(&module);
#endif
}
