/* runlog._capture._hot: RunHandler.handle's usual case in C.
 *
 * HotHandler is the first base of runlog.stdlib.RunHandler. Its members are the handler attributes the
 * usual record reads (filters, formatter and RunHandler's plan: _source, _compiled, _sink, ...); Python
 * sets and reads them as any attribute. Its handle(record) does, for the usual record, what
 * RunHandler._handle_py does, with the same checks in the same order: a plain LogRecord, no filter, a
 * compiled format for the handler's formatter unchanged since it was compiled, no exception or stack,
 * tagged values (if any) in a dict, a run active whose driver log this handler has open, no check due (once a second),
 * nothing buffered, nothing failing. It calls the compiled format (Python code made by
 * runlog._capture.fastformat) and writes the line with one write(2) on the O_APPEND descriptor, then
 * the tagged values packed by the writer's packer with one more (store_points).
 * Any other record (or anything unexpected on the way) goes to self._handle_py(record) before anything
 * is written or marked; a line formatted here that cannot be written here goes to self._write_slow,
 * a short write to self._write_rest (which says whether the rest was written; the values are stored
 * only then): so every outcome but the usual one is decided in Python.
 *
 * setup(LogRecord, current, pending, driverlog, thread_state, NO_STEP, current_trace_ids,
 * with_trace_suffix, handler_globals) gives it the record class, the
 * ContextVar of the active run, the deque of records buffered while no run is active,
 * runlog._capture.driverlog (whose mark_written and structlog_used it reads per record), its per-thread
 * state (written_msg: a structlog event written already), the store's NO_STEP,
 * runlog._capture.trace's current_trace_ids and with_trace_suffix (where OpenTelemetry is loaded), and
 * runlog.stdlib's globals (its _formatting: _handle_py runs a compiled format). VERSION: runlog._capture.hotpath loads
 * only the version it was written for. Built at install time with the C packer (hatch_build.py).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <errno.h>
#include <stddef.h>
#include <unistd.h>

typedef struct {
    PyObject_HEAD
    PyObject *filters, *formatter, *source, *compiled, *sink, *next_check, *failing, *watch, *source_attrs,
        *source_len, *source_datefmt, *source_style, *source_fmt, *trace_fields, *trace_suffix, *captured,
        *emit_overridden;
} HotHandler;

#define N_MEMBERS 17

static PyMemberDef members[] = {
    {"filters", T_OBJECT_EX, offsetof(HotHandler, filters), 0, NULL},
    {"formatter", T_OBJECT_EX, offsetof(HotHandler, formatter), 0, NULL},
    {"_source", T_OBJECT_EX, offsetof(HotHandler, source), 0, NULL},
    {"_compiled", T_OBJECT_EX, offsetof(HotHandler, compiled), 0, NULL},
    {"_sink", T_OBJECT_EX, offsetof(HotHandler, sink), 0, NULL},
    {"_next_check", T_OBJECT_EX, offsetof(HotHandler, next_check), 0, NULL},
    {"_failing", T_OBJECT_EX, offsetof(HotHandler, failing), 0, NULL},
    {"_watch", T_OBJECT_EX, offsetof(HotHandler, watch), 0, NULL},
    {"_source_attrs", T_OBJECT_EX, offsetof(HotHandler, source_attrs), 0, NULL},
    {"_source_len", T_OBJECT_EX, offsetof(HotHandler, source_len), 0, NULL},
    {"_source_datefmt", T_OBJECT_EX, offsetof(HotHandler, source_datefmt), 0, NULL},
    {"_source_style", T_OBJECT_EX, offsetof(HotHandler, source_style), 0, NULL},
    {"_source_fmt", T_OBJECT_EX, offsetof(HotHandler, source_fmt), 0, NULL},
    {"_trace_fields", T_OBJECT_EX, offsetof(HotHandler, trace_fields), 0, NULL},
    {"_trace_suffix", T_OBJECT_EX, offsetof(HotHandler, trace_suffix), 0, NULL},
    {"_captured", T_OBJECT_EX, offsetof(HotHandler, captured), 0, NULL},
    {"_emit_overridden", T_OBJECT_EX, offsetof(HotHandler, emit_overridden), 0, NULL},
    {NULL, 0, 0, 0, NULL},
};

static PyObject **slots(HotHandler *self) { return &self->filters; }

static int hot_traverse(HotHandler *self, visitproc visit, void *arg) {
    PyObject **s = slots(self);
    for (int i = 0; i < N_MEMBERS; i++) Py_VISIT(s[i]);
    return 0;
}

static int hot_clear(HotHandler *self) {
    PyObject **s = slots(self);
    for (int i = 0; i < N_MEMBERS; i++) Py_CLEAR(s[i]);
    return 0;
}

static void hot_dealloc(HotHandler *self) {
    PyObject_GC_UnTrack(self);
    hot_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* Set by setup(). */
static PyTypeObject *record_type;
static PyObject *current_run, *pending, *driverlog_dict, *thread_state, *no_step, *trace_ids, *trace_suffix, *handler_globals;
/* A compiled format is running here (one flag for all threads, as runlog.stdlib's _formatting): a record
   logged meanwhile goes to _handle_py(record, False, True), which formats it with its thread marked busy,
   so that logging that feeds on itself ends (see RunHandler._handle_py). */
static int formatting;

static PyObject *s_name, *s_msg, *s_metrics, *s_exc_info, *s_exc_text, *s_stack_info, *s_created, *s_mark_written,
    *s_structlog_used, *s_runlog_written, *s_finished, *s_datefmt, *s__fmt, *s__style, *s_otel_trace, *s_run,
    *s_writer, *s_log_fds, *s_fds, *s_fd, *s_runlog, *s_handle_py, *s_write_slow, *s_write_rest, *s_step, *s_written_msg,
    *s_points_fd, *s_packer, *s_points, *s_points_rest, *s_formatting;

/* self._handle_py(*args, **kwargs); nested (a record logged while a compiled format runs here) or
   failed_format (the compiled format raised here): _handle_py(record, False, nested, failed_format). */
static PyObject *handle_in_python(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames, int nested,
                                  int failed_format) {
    Py_ssize_t nkw = kwnames == NULL ? 0 : PyTuple_GET_SIZE(kwnames);
    if ((nested || failed_format) && (nargs == 1 || nargs == 2) && kwnames == NULL) {  /* (2: from emit) */
        PyObject *stack[5] = {self, args[0], nargs == 2 ? args[1] : Py_False, nested ? Py_True : Py_False,
                              failed_format ? Py_True : Py_False};
        return PyObject_VectorcallMethod(s_handle_py, stack, 5, NULL);
    }
    if (nargs + nkw <= 7) {
        PyObject *stack[8];
        stack[0] = self;
        for (Py_ssize_t i = 0; i < nargs + nkw; i++) stack[i + 1] = args[i];
        return PyObject_VectorcallMethod(s_handle_py, stack, (size_t)(nargs + 1), kwnames);
    }
    PyObject *bound = PyObject_GetAttr(self, s_handle_py);
    if (bound == NULL) return NULL;
    PyObject *result = PyObject_Vectorcall(bound, args, (size_t)nargs, kwnames);
    Py_DECREF(bound);
    return result;
}

/* An error met on the way: an Exception is forgotten (the record goes to _handle_py, which meets it again
   and deals with it as it always has); KeyboardInterrupt and other BaseExceptions go on up. */
static int recoverable(void) {
    if (!PyErr_ExceptionMatches(PyExc_Exception)) return 0;
    PyErr_Clear();
    return 1;
}

/* d[key] (borrowed), or NULL with no error when it is missing. */
static inline PyObject *item(PyObject *d, PyObject *key) { return PyDict_GetItemWithError(d, key); }

/* A written record's tagged values, as RunHandler._points stores them: packed by the writer's packer of
   their group, timed by the record, and written with one write(2) on the points file; anything else (a new
   name, another kind of value or step, the points file not open yet, a short write) is left to
   self._points or self._points_rest. -1 with an exception for what those raised. */
static int store_points(HotHandler *self, PyObject *record, PyObject *run, PyObject *writer, PyObject *tagged, PyObject *step,
                        PyObject *created) {
    PyObject *points = NULL, *v;
    long fd = -1;
    if (step != Py_None) {
        if (!PyLong_CheckExact(step)) goto python;
        int other = PyObject_RichCompareBool(step, no_step, Py_NE);
        if (other != 1) goto python_error;
    }
    v = PyObject_GetAttr(writer, s_points_fd);
    if (v == NULL) goto python_error;
    fd = PyLong_Check(v) ? PyLong_AsLong(v) : -1;
    Py_DECREF(v);
    if (fd < 0 || fd > INT_MAX) goto python_error;
    v = PyObject_GetAttr(writer, s_packer);
    if (v == NULL) goto python_error;
    if (v == Py_None) {
        Py_DECREF(v);
        goto python;
    }
    {
        PyObject *call[3] = {tagged, step == Py_None ? no_step : step, created};
        points = PyObject_Vectorcall(v, call, 3, NULL);
        Py_DECREF(v);
    }
    if (points == NULL || !PyBytes_CheckExact(points)) goto python_error;
    Py_ssize_t len = PyBytes_GET_SIZE(points);
    if (len > 0) {
        ssize_t n;
        Py_BEGIN_ALLOW_THREADS
        n = write((int)fd, PyBytes_AS_STRING(points), (size_t)len);
        Py_END_ALLOW_THREADS
        if (n != len) {
            PyObject *start = PyLong_FromSsize_t(n < 0 ? 0 : n), *fd_object = PyLong_FromLong(fd), *result = NULL;
            if (start != NULL && fd_object != NULL) {
                PyObject *rest[6] = {(PyObject *)self, record, writer, fd_object, points, start};
                result = PyObject_VectorcallMethod(s_points_rest, rest, 6, NULL);
            }
            Py_XDECREF(start);
            Py_XDECREF(fd_object);
            Py_DECREF(points);
            if (result == NULL) return -1;
            Py_DECREF(result);
            return 0;
        }
    }
    Py_DECREF(points);
    return 0;

python_error:
    Py_XDECREF(points);
    if (PyErr_Occurred() && !recoverable()) return -1;
python: {
        PyObject *call[6] = {(PyObject *)self, record, run, writer, tagged, step};
        PyObject *result = PyObject_VectorcallMethod(s_points, call, 6, NULL);
        if (result == NULL) return -1;
        Py_DECREF(result);
        return 0;
    }
}

static PyObject *hot_handle(HotHandler *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    PyObject *record, *d = NULL, *run = NULL, *text = NULL, *sink = NULL, *writer = NULL, *tagged = NULL, *step = NULL, *v, *w;
    PyObject *answer = NULL;  /* (borrowed: Py_True, or NULL with an exception) */
    PyObject *compiled = NULL, *created_ref = NULL;
    int mark = 0, failed_format = 0, nested = formatting;
    if (record_type == NULL) goto python;
    if (!nested) {  /* runlog.stdlib's _formatting: _handle_py runs a compiled format */
        v = item(handler_globals, s_formatting);
        if (v == NULL && PyErr_Occurred()) goto error;
        nested = v != NULL && v != Py_False;
    }
    if (nargs != 1 || kwnames != NULL || nested) goto python;
    record = args[0];
    if (Py_TYPE(record) != record_type) goto python;
    if (self->filters == NULL || !PyList_CheckExact(self->filters) || PyList_GET_SIZE(self->filters) != 0) goto python;
    if (self->emit_overridden != Py_False || self->trace_fields != Py_False || self->captured != Py_False) goto python;
    if (self->compiled == NULL || self->compiled == Py_None) goto python;
    if (self->formatter == NULL || self->formatter != self->source) goto python;
    if (self->next_check == NULL || !PyFloat_CheckExact(self->next_check)) goto python;
    d = PyObject_GenericGetDict(record, NULL);
    if (d == NULL) goto error;
    /* The logger's name: runlog's own records go to the system log (in Python). */
    v = item(d, s_name);
    if (v == NULL || !PyUnicode_CheckExact(v)) goto error_or_python;
    Py_ssize_t found = PyUnicode_Find(v, s_runlog, 0, PY_SSIZE_T_MAX, 1);
    if (found != -1) goto error_or_python;  /* (-2: an error) */
    /* Marked by another runlog writer? (driverlog.mark_written: more than one is alive.) */
    v = item(driverlog_dict, s_mark_written);
    if (v == NULL) goto error_or_python;
    if (v != Py_False) {
        if (v != Py_True) goto python;
        v = item(d, s_runlog_written);
        if (v != NULL) {  /* written by another RunHandler already */
            answer = Py_True;
            goto done;
        }
        if (PyErr_Occurred()) goto error;
        v = item(driverlog_dict, s_structlog_used);
        if (v != Py_False) {  /* written by runlog.structlog already? (its message object, kept per thread) */
            if (v != Py_True) goto error_or_python;
            PyObject *msg = item(d, s_msg);
            if (msg == NULL || msg == Py_None) goto error_or_python;
            w = PyObject_GetAttr(thread_state, s_written_msg);
            if (w == NULL) goto error;
            Py_DECREF(w);
            if (w == msg) goto python;
        }
        mark = 1;
    }
    /* The run of this context, not finished. */
    if (PyContextVar_Get(current_run, NULL, &run) < 0) goto error;
    if (run == NULL || run == Py_None) goto python;
    v = PyObject_GetAttr(run, s_finished);
    if (v == NULL) goto error;
    Py_DECREF(v);
    if (v != Py_False) goto python;
    /* The formatter unchanged since the format was compiled (see RunHandler._replan). */
    if (self->watch != Py_False) {
        if (self->watch != Py_True || self->source_attrs == NULL || !PyDict_CheckExact(self->source_attrs)) goto python;
        if (self->source_len == NULL || !PyLong_CheckExact(self->source_len)) goto python;
        if (PyDict_GET_SIZE(self->source_attrs) != PyLong_AsSsize_t(self->source_len)) goto error_or_python;
        v = item(self->source_attrs, s_datefmt);
        if (v == NULL && PyErr_Occurred()) goto error;
        if ((v == NULL ? Py_None : v) != self->source_datefmt) goto python;
        if (self->source_style == NULL) goto python;
        v = PyObject_GetAttr(self->source_style, s__fmt);
        if (v == NULL) goto error;
        Py_DECREF(v);
        if (v != self->source_fmt) goto python;
        v = item(self->source_attrs, s__style);
        if (v == NULL && PyErr_Occurred()) goto error;
        if ((v == NULL ? Py_None : v) != self->source_style) goto python;
    }
    /* A record the compiled format fits, with no tagged values; no check due. */
    if (item(d, s_exc_info) != Py_None || item(d, s_exc_text) != Py_None || item(d, s_stack_info) != Py_None) goto error_or_python;
    v = item(d, s_msg);
    if (v == NULL || PyDict_CheckExact(v)) goto error_or_python;
    /* Tagged values: a dict in the metrics field (the step, if any, in step): stored after the line. */
    v = item(d, s_metrics);
    if (v != NULL) {
        if (!PyDict_CheckExact(v)) goto python;
        tagged = Py_NewRef(v);
        v = item(d, s_step);
        if (v == NULL && PyErr_Occurred()) goto error;
        step = Py_NewRef(v == NULL ? Py_None : v);
    } else if (PyErr_Occurred()) goto error;
    PyObject *v_created = item(d, s_created);
    if (v_created == NULL || !PyFloat_CheckExact(v_created)) goto error_or_python;
    double created = PyFloat_AS_DOUBLE(v_created);
    if (created >= PyFloat_AS_DOUBLE(self->next_check)) goto python;
    if (self->trace_suffix != Py_False && self->trace_suffix != Py_True) goto python;
    /* Formatted: the same text as Formatter.format (runlog._capture.fastformat). */
    {
        PyObject *call[2] = {record, d};
        compiled = Py_NewRef(self->compiled);  /* (held: the format may set another formatter) */
        formatting = 1;
        text = PyObject_Vectorcall(compiled, call, 2, NULL);
        formatting = 0;
        Py_CLEAR(compiled);
    }
    if (text == NULL) {
        if (!recoverable()) goto fail;
        failed_format = 1;  /* (_handle_py formats it the stdlib's way, without the compiled format) */
        goto python;
    }
    if (!PyUnicode_CheckExact(text)) {
        failed_format = 1;
        goto python;
    }
    if (mark && PyDict_SetItem(d, s_runlog_written, Py_True) < 0) goto slow_error;
    /* The current span's ids at the end of the line, where OpenTelemetry is loaded and a span records. */
    if (self->trace_suffix == Py_True) {
        int traced = PyDict_Contains(PyImport_GetModuleDict(), s_otel_trace);
        if (traced < 0) goto slow_error;
        if (traced) {
            PyObject *ids = PyObject_CallNoArgs(trace_ids);
            if (ids == NULL) goto slow_error;
            if (ids != Py_None) {
                PyObject *call[2] = {text, ids};
                PyObject *suffixed = PyObject_Vectorcall(trace_suffix, call, 2, NULL);
                Py_DECREF(ids);
                if (suffixed == NULL) goto slow_error;
                Py_SETREF(text, suffixed);
            } else {
                Py_DECREF(ids);
            }
        }
    }
    /* From here on the line is written, here or in Python: nothing goes to _handle_py. The record's time
       read again and held: the format and the trace calls ran Python code, which may have set it. */
    created_ref = Py_XNewRef(item(d, s_created));
    if (created_ref == NULL) {
        if (PyErr_Occurred()) goto slow_error;
        goto slow;
    }
    if (!PyFloat_CheckExact(created_ref)) goto slow;
    created = PyFloat_AS_DOUBLE(created_ref);
    sink = self->sink;
    if (sink == NULL) goto slow;
    Py_INCREF(sink);
    Py_ssize_t buffered = PyObject_Length(pending);
    if (buffered < 0) goto slow_error;
    if (buffered != 0) goto slow;
    v = PyObject_GetAttr(sink, s_run);
    if (v == NULL) goto slow_error;
    Py_DECREF(v);
    if (v != run || self->failing != Py_False) goto slow;
    if (self->next_check == NULL || !PyFloat_CheckExact(self->next_check) || created >= PyFloat_AS_DOUBLE(self->next_check)) goto slow;
    writer = PyObject_GetAttr(sink, s_writer);
    if (writer == NULL) goto slow_error;
    v = PyObject_GetAttr(writer, s_log_fds);
    if (v == NULL) goto slow_error;
    Py_DECREF(v);
    w = PyObject_GetAttr(sink, s_fds);
    if (w == NULL) goto slow_error;
    Py_DECREF(w);
    if (v != w) goto slow;
    v = PyObject_GetAttr(sink, s_fd);
    if (v == NULL) goto slow_error;
    long fd = PyLong_AsLong(v);
    Py_DECREF(v);
    if (fd == -1 && PyErr_Occurred()) goto slow_error;
    if (fd < 0 || fd > INT_MAX) goto slow;
    {
        Py_ssize_t len;
        PyObject *data = NULL;  /* the bytes, where the text is not UTF-8 as it is (lone surrogates) */
        const char *buf = PyUnicode_AsUTF8AndSize(text, &len);
        if (buf == NULL) {
            if (!PyErr_ExceptionMatches(PyExc_UnicodeEncodeError)) goto slow_error;
            PyErr_Clear();
            data = PyUnicode_AsEncodedString(text, "utf-8", "backslashreplace");
            if (data == NULL) goto slow_error;
            buf = PyBytes_AS_STRING(data);
            len = PyBytes_GET_SIZE(data);
        }
        ssize_t n;
        Py_BEGIN_ALLOW_THREADS
        n = write((int)fd, buf, (size_t)len);
        Py_END_ALLOW_THREADS
        if (n != len) {  /* a short write or an error: the rest the careful way (RunWriter._write) */
            if (data == NULL) data = PyBytes_FromStringAndSize(buf, len);
            PyObject *result = NULL;
            if (data != NULL) {
                PyObject *start = PyLong_FromSsize_t(n < 0 ? 0 : n);
                if (start != NULL) {
                    PyObject *fd_object = PyLong_FromLong(fd);
                    if (fd_object != NULL) {
                        PyObject *call[6] = {(PyObject *)self, record, writer, fd_object, data, start};
                        result = PyObject_VectorcallMethod(s_write_rest, call, 6, NULL);
                        Py_DECREF(fd_object);
                    }
                    Py_DECREF(start);
                }
            }
            Py_XDECREF(data);
            if (result == NULL) goto fail;
            Py_DECREF(result);
            if (result == Py_False) Py_CLEAR(tagged);  /* the line failed: its values are not stored either */
        } else {
            Py_XDECREF(data);
        }
    }
    if (tagged != NULL && PyDict_GET_SIZE(tagged) > 0 && store_points(self, record, run, writer, tagged, step, created_ref) < 0)
        goto fail;
    answer = Py_True;
    goto done;

slow_error:
    if (!recoverable()) goto fail;
slow:  /* formatted, not written: RunHandler._write_slow(record, run, text, tagged, step, False) */
    {
        PyObject *call[7] = {(PyObject *)self, record, run, text, tagged == NULL ? Py_None : tagged, tagged == NULL ? Py_None : step, Py_False};
        PyObject *result = PyObject_VectorcallMethod(s_write_slow, call, 7, NULL);
        if (result == NULL) goto fail;
        Py_DECREF(result);
    }
    answer = Py_True;
    goto done;

error_or_python:  /* (before the format: nothing done yet) */
    if (!PyErr_Occurred()) goto python;
error:
    if (recoverable()) goto python;
fail:  /* a BaseException (KeyboardInterrupt, ...), or what _write_slow or _write_rest raised: raised */
    answer = NULL;
done:
    Py_XDECREF(created_ref);
    Py_XDECREF(writer);
    Py_XDECREF(sink);
    Py_XDECREF(text);
    Py_XDECREF(run);
    Py_XDECREF(d);
    Py_XDECREF(tagged);
    Py_XDECREF(step);
    return Py_XNewRef(answer);

python:
    Py_XDECREF(text);
    Py_XDECREF(run);
    Py_XDECREF(d);
    Py_XDECREF(tagged);
    Py_XDECREF(step);
    return handle_in_python((PyObject *)self, args, nargs, kwnames, nested, failed_format);
}

static PyMethodDef hot_methods[] = {
    {"handle", (PyCFunction)(void (*)(void))hot_handle, METH_FASTCALL | METH_KEYWORDS,
     "handle(record): the usual record written here, any other by self._handle_py (see the module's source)."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject HotHandlerType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "runlog._capture._hot.HotHandler",
    .tp_basicsize = sizeof(HotHandler),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "The first base of RunHandler: the attributes of its usual case, and handle in C.",
    .tp_traverse = (traverseproc)hot_traverse,
    .tp_clear = (inquiry)hot_clear,
    .tp_dealloc = (destructor)hot_dealloc,
    .tp_methods = hot_methods,
    .tp_members = members,
    .tp_new = PyType_GenericNew,
};

static PyObject *setup(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 9 || !PyType_Check(args[0]) || !PyContextVar_CheckExact(args[1]) || !PyLong_CheckExact(args[5])
        || !PyDict_CheckExact(args[8])) {
        PyErr_SetString(PyExc_TypeError, "setup(LogRecord, current, pending, driverlog, thread_state, NO_STEP, "
                                         "current_trace_ids, with_trace_suffix, handler_globals)");
        return NULL;
    }
    PyObject *dict = PyModule_GetDict(args[3]);  /* (borrowed; raises for a non-module) */
    if (dict == NULL) return NULL;
    Py_INCREF(args[0]);
    Py_XSETREF(record_type, (PyTypeObject *)args[0]);
    Py_XSETREF(current_run, Py_NewRef(args[1]));
    Py_XSETREF(pending, Py_NewRef(args[2]));
    Py_XSETREF(driverlog_dict, Py_NewRef(dict));
    Py_XSETREF(thread_state, Py_NewRef(args[4]));
    Py_XSETREF(no_step, Py_NewRef(args[5]));
    Py_XSETREF(trace_ids, Py_NewRef(args[6]));
    Py_XSETREF(trace_suffix, Py_NewRef(args[7]));
    Py_XSETREF(handler_globals, Py_NewRef(args[8]));
    Py_RETURN_NONE;
}

static PyMethodDef module_methods[] = {
    {"setup", (PyCFunction)(void (*)(void))setup, METH_FASTCALL,
     "setup(LogRecord, current, pending, driverlog, thread_state, NO_STEP, current_trace_ids, with_trace_suffix, "
     "handler_globals)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "runlog._capture._hot", NULL, -1, module_methods};

#define INTERN(var, text) if ((var = PyUnicode_InternFromString(text)) == NULL) return NULL

PyMODINIT_FUNC PyInit__hot(void) {
    INTERN(s_name, "name");
    INTERN(s_msg, "msg");
    INTERN(s_metrics, "metrics");
    INTERN(s_exc_info, "exc_info");
    INTERN(s_exc_text, "exc_text");
    INTERN(s_stack_info, "stack_info");
    INTERN(s_created, "created");
    INTERN(s_mark_written, "mark_written");
    INTERN(s_structlog_used, "structlog_used");
    INTERN(s_runlog_written, "_runlog_written");
    INTERN(s_finished, "_finished");
    INTERN(s_datefmt, "datefmt");
    INTERN(s__fmt, "_fmt");
    INTERN(s__style, "_style");
    INTERN(s_otel_trace, "opentelemetry.trace");
    INTERN(s_run, "run");
    INTERN(s_writer, "writer");
    INTERN(s_log_fds, "_log_fds");
    INTERN(s_fds, "fds");
    INTERN(s_fd, "fd");
    INTERN(s_runlog, "runlog");
    INTERN(s_handle_py, "_handle_py");
    INTERN(s_write_slow, "_write_slow");
    INTERN(s_write_rest, "_write_rest");
    INTERN(s_step, "step");
    INTERN(s_written_msg, "written_msg");
    INTERN(s_points_fd, "_points_fd");
    INTERN(s_packer, "_packer");
    INTERN(s_points, "_points");
    INTERN(s_points_rest, "_points_rest");
    INTERN(s_formatting, "_formatting");
    if (PyType_Ready(&HotHandlerType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) return NULL;
    Py_INCREF(&HotHandlerType);
    if (PyModule_AddObject(m, "HotHandler", (PyObject *)&HotHandlerType) < 0 || PyModule_AddIntConstant(m, "VERSION", 1) < 0) {
        Py_DECREF(&HotHandlerType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
