/* A prototype for issue 15 item 4 (benchmarks/kafka_path.py, not the product): what a
 * native extension on librdkafka would cost per event when Python hands it whole batches.
 *
 *   p = producer({"bootstrap.servers": ..., "acks": "1", ...})   -> capsule
 *   produce_bodies(p, topic, [b"...", ...])  -> records queued (one C loop, GIL released)
 *   produce_lines(p, topic, chunk)           -> records queued: every '\n'-terminated line
 *                                               of ``chunk`` (bytes), split in C
 *   flush(p, timeout_ms)                     -> (records still queued, delivery errors so far)
 *
 * Records are copied into librdkafka (RD_KAFKA_MSG_F_COPY), partition unassigned (the
 * default partitioner), no key; a full local queue is drained with rd_kafka_poll and the
 * record retried. Delivery reports count failures only. Built by kafka_path.py with
 * gcc against Debian's librdkafka-dev.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <librdkafka/rdkafka.h>

typedef struct {
    rd_kafka_t *rk;
    long errors;
} Prod;

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    (void)rk;
    if (m->err) ((Prod *)opaque)->errors++;
}

static void prod_free(PyObject *cap) {
    Prod *p = PyCapsule_GetPointer(cap, "rdk_lines.producer");
    if (p) {
        rd_kafka_flush(p->rk, 5000);
        rd_kafka_destroy(p->rk);
        free(p);
    }
}

static PyObject *producer(PyObject *self, PyObject *args) {
    PyObject *conf_dict, *k, *v;
    Py_ssize_t pos = 0;
    char err[512];
    if (!PyArg_ParseTuple(args, "O!", &PyDict_Type, &conf_dict)) return NULL;
    Prod *p = calloc(1, sizeof(Prod));
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    while (PyDict_Next(conf_dict, &pos, &k, &v)) {
        if (rd_kafka_conf_set(conf, PyUnicode_AsUTF8(k), PyUnicode_AsUTF8(v), err, sizeof err) != RD_KAFKA_CONF_OK) {
            rd_kafka_conf_destroy(conf);
            free(p);
            return PyErr_Format(PyExc_ValueError, "%s", err);
        }
    }
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    rd_kafka_conf_set_opaque(conf, p);
    p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!p->rk) {
        free(p);
        return PyErr_Format(PyExc_RuntimeError, "%s", err);
    }
    return PyCapsule_New(p, "rdk_lines.producer", prod_free);
}

static int put(Prod *p, const char *topic, const char *buf, size_t len) {
    for (;;) {
        rd_kafka_resp_err_t e = rd_kafka_producev(p->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_VALUE((void *)buf, len),
                                                  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        if (!e) return 0;
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) return -1;
        rd_kafka_poll(p->rk, 10);
    }
}

static PyObject *produce_bodies(PyObject *self, PyObject *args) {
    PyObject *cap, *list;
    const char *topic;
    if (!PyArg_ParseTuple(args, "OsO!", &cap, &topic, &PyList_Type, &list)) return NULL;
    Prod *p = PyCapsule_GetPointer(cap, "rdk_lines.producer");
    if (!p) return NULL;
    Py_ssize_t n = PyList_GET_SIZE(list), i, bad = 0;
    /* the list and its bytes stay referenced by the caller: their buffers are stable */
    const char **bufs = malloc(sizeof(char *) * (n ? n : 1));
    size_t *lens = malloc(sizeof(size_t) * (n ? n : 1));
    for (i = 0; i < n; i++) {
        PyObject *b = PyList_GET_ITEM(list, i);
        if (!PyBytes_Check(b)) {
            free(bufs);
            free(lens);
            return PyErr_Format(PyExc_TypeError, "item %zd is not bytes", i);
        }
        bufs[i] = PyBytes_AS_STRING(b);
        lens[i] = (size_t)PyBytes_GET_SIZE(b);
    }
    Py_BEGIN_ALLOW_THREADS
    for (i = 0; i < n; i++) bad += put(p, topic, bufs[i], lens[i]) != 0;
    Py_END_ALLOW_THREADS
    free(bufs);
    free(lens);
    if (bad) return PyErr_Format(PyExc_RuntimeError, "%zd records could not be queued", bad);
    return PyLong_FromSsize_t(n);
}

static PyObject *produce_lines(PyObject *self, PyObject *args) {
    PyObject *cap;
    const char *topic;
    Py_buffer chunk;
    if (!PyArg_ParseTuple(args, "Osy*", &cap, &topic, &chunk)) return NULL;
    Prod *p = PyCapsule_GetPointer(cap, "rdk_lines.producer");
    if (!p) {
        PyBuffer_Release(&chunk);
        return NULL;
    }
    const char *at = chunk.buf, *end = at + chunk.len;
    Py_ssize_t n = 0, bad = 0;
    Py_BEGIN_ALLOW_THREADS
    while (at < end) {
        const char *nl = memchr(at, '\n', (size_t)(end - at));
        if (!nl) break; /* a partial line: the caller keeps it */
        bad += put(p, topic, at, (size_t)(nl - at)) != 0;
        n++;
        at = nl + 1;
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&chunk);
    if (bad) return PyErr_Format(PyExc_RuntimeError, "%zd records could not be queued", bad);
    return PyLong_FromSsize_t(n);
}

static PyObject *flush(PyObject *self, PyObject *args) {
    PyObject *cap;
    int timeout_ms;
    if (!PyArg_ParseTuple(args, "Oi", &cap, &timeout_ms)) return NULL;
    Prod *p = PyCapsule_GetPointer(cap, "rdk_lines.producer");
    if (!p) return NULL;
    Py_BEGIN_ALLOW_THREADS
    rd_kafka_flush(p->rk, timeout_ms);
    Py_END_ALLOW_THREADS
    return Py_BuildValue("(il)", rd_kafka_outq_len(p->rk), p->errors);
}

static PyMethodDef methods[] = {
    {"producer", producer, METH_VARARGS, "a librdkafka producer from a dict of properties"},
    {"produce_bodies", produce_bodies, METH_VARARGS, "queue every bytes of a list as one record"},
    {"produce_lines", produce_lines, METH_VARARGS, "queue every newline-terminated line of a chunk"},
    {"flush", flush, METH_VARARGS, "wait for the queue to empty: (left, errors)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "rdk_lines", NULL, -1, methods};

PyMODINIT_FUNC PyInit_rdk_lines(void) { return PyModule_Create(&module); }
