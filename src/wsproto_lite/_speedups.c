/* wsproto_lite._speedups: the optional compiled half of the hot path.
 *
 * Five functions, each the compiled twin of a pure-Python one that stays the
 * reference (wsproto_lite/_speed.py binds one or the other; the tests check
 * that both give the same bytes and events):
 *
 *   apply_mask(data, key) -> bytes              _frames.apply_mask
 *   mask_frame(header, key, payload) -> bytes   _frames.mask_frame
 *   message_frame(data, key) -> bytes           _frames.message_frame
 *   whole_frame(buf, pos, end, head, expect_mask, limit)
 *       -> (stop, str | bytes) | None          _receiving.whole_frame
 *   small_frames(buf, stop, end, head, expect_mask, small, budget)
 *       -> (stop, bytes, finished) | None      _runs.small_frames
 *
 * Rules for this file: no state of its own (nothing static but constants),
 * so it is safe without the GIL (free-threaded CPython) and in
 * subinterpreters; every read and write of a buffer is checked against that
 * buffer's length before it happens, for any arguments a caller can pass; a
 * buffer is held (PyObject_GetBuffer) for the whole time it is read, so a
 * bytearray cannot be resized under it.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

/* out[i] = in[i] ^ key[(i + turn) & 3] for i < n; out may equal in.  Eight
 * bytes at a time through memcpy (no alignment or aliasing assumption),
 * which compilers turn into vector instructions at -O2 and above. */
static void
xor_key(unsigned char *out, const unsigned char *in, Py_ssize_t n, const unsigned char *key)
{
    uint32_t k32;
    uint64_t k64, word;
    Py_ssize_t i = 0;

    memcpy(&k32, key, 4);
    k64 = ((uint64_t)k32 << 32) | k32;
    for (; i + 32 <= n; i += 32) {
        uint64_t a, b, c, d;
        memcpy(&a, in + i, 8);
        memcpy(&b, in + i + 8, 8);
        memcpy(&c, in + i + 16, 8);
        memcpy(&d, in + i + 24, 8);
        a ^= k64;
        b ^= k64;
        c ^= k64;
        d ^= k64;
        memcpy(out + i, &a, 8);
        memcpy(out + i + 8, &b, 8);
        memcpy(out + i + 16, &c, 8);
        memcpy(out + i + 24, &d, 8);
    }
    for (; i + 8 <= n; i += 8) {
        memcpy(&word, in + i, 8);
        word ^= k64;
        memcpy(out + i, &word, 8);
    }
    for (; i < n; i++) {
        out[i] = in[i] ^ key[i & 3];
    }
}

/* A Python int argument as a Py_ssize_t; -1 with an exception set on error. */
static int
as_size(PyObject *arg, Py_ssize_t *out)
{
    *out = PyLong_AsSsize_t(arg);
    return (*out == -1 && PyErr_Occurred()) ? -1 : 0;
}

/* Whether a function got exactly ``count`` positional arguments. */
static int
check_count(const char *name, Py_ssize_t nargs, Py_ssize_t count)
{
    if (nargs != count) {
        PyErr_Format(PyExc_TypeError, "%s() takes %zd arguments (%zd given)", name, count, nargs);
        return 0;
    }
    return 1;
}

/* (stop, data, and finished unless it is NULL), taking over ``data``. */
static PyObject *
found(Py_ssize_t stop, PyObject *data, PyObject *finished)
{
    PyObject *result = PyTuple_New(finished == NULL ? 2 : 3);
    PyObject *where = PyLong_FromSsize_t(stop);

    if (result == NULL || where == NULL) {
        Py_XDECREF(result);
        Py_XDECREF(where);
        Py_DECREF(data);
        return NULL;
    }
    PyTuple_SET_ITEM(result, 0, where);
    PyTuple_SET_ITEM(result, 1, data);
    if (finished != NULL) {
        PyTuple_SET_ITEM(result, 2, Py_NewRef(finished));
    }
    return result;
}

static int
get_key(PyObject *arg, unsigned char key[4])
{
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) {
        return -1;
    }
    if (view.len != 4) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "a masking key is 4 bytes");
        return -1;
    }
    memcpy(key, view.buf, 4);
    PyBuffer_Release(&view);
    return 0;
}

PyDoc_STRVAR(apply_mask_doc,
"apply_mask(data, key, /) -> bytes\n\n"
"``data`` XORed with the 4-byte masking ``key`` (RFC 6455, 5.3).");

static PyObject *
apply_mask(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    unsigned char key[4];
    Py_buffer data;
    PyObject *out;

    if (!check_count("apply_mask", nargs, 2) || get_key(args[1], key) < 0) {
        return NULL;
    }
    if (PyObject_GetBuffer(args[0], &data, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    out = PyBytes_FromStringAndSize(NULL, data.len);
    if (out != NULL) {
        xor_key((unsigned char *)PyBytes_AS_STRING(out), data.buf, data.len, key);
    }
    PyBuffer_Release(&data);
    return out;
}

PyDoc_STRVAR(mask_frame_doc,
"mask_frame(header, key, payload, /) -> bytes\n\n"
"``header + key + apply_mask(payload, key)``: a client's frame, built in one buffer.");

static PyObject *
mask_frame(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    unsigned char key[4];
    Py_buffer header, payload;
    PyObject *out = NULL;
    unsigned char *at;

    if (!check_count("mask_frame", nargs, 3) || get_key(args[1], key) < 0) {
        return NULL;
    }
    if (PyObject_GetBuffer(args[0], &header, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    if (PyObject_GetBuffer(args[2], &payload, PyBUF_SIMPLE) < 0) {
        PyBuffer_Release(&header);
        return NULL;
    }
    if (header.len > 14) {
        PyErr_SetString(PyExc_ValueError, "a frame header is at most 14 bytes");
    }
    else {
        out = PyBytes_FromStringAndSize(NULL, header.len + 4 + payload.len);
    }
    if (out != NULL) {
        at = (unsigned char *)PyBytes_AS_STRING(out);
        memcpy(at, header.buf, header.len);
        memcpy(at + header.len, key, 4);
        xor_key(at + header.len + 4, payload.buf, payload.len, key);
    }
    PyBuffer_Release(&payload);
    PyBuffer_Release(&header);
    return out;
}

PyDoc_STRVAR(message_frame_doc,
"message_frame(data, key, /) -> bytes\n\n"
"The one frame of a whole message: ``data`` text (str, sent as UTF-8) or\n"
"binary, masked with the 4-byte ``key`` unless it is None.  Raises\n"
"UnicodeEncodeError for text with no UTF-8 form.");

static PyObject *
message_frame(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    unsigned char key[4];
    int masked;
    Py_buffer payload;
    PyObject *encoded = NULL, *out = NULL;
    const unsigned char *src;
    unsigned char first, *at;
    Py_ssize_t n, head;

    if (!check_count("message_frame", nargs, 2)) {
        return NULL;
    }
    masked = args[1] != Py_None;
    if (masked && get_key(args[1], key) < 0) {
        return NULL;
    }
    payload.obj = NULL;
    if (PyUnicode_Check(args[0])) {
        first = 0x81;
#if PY_VERSION_HEX < 0x030C0000
        if (PyUnicode_READY(args[0]) < 0) {
            return NULL;
        }
#endif
        if (PyUnicode_IS_ASCII(args[0])) {  /* its characters are its UTF-8 */
            src = PyUnicode_DATA(args[0]);
            n = PyUnicode_GET_LENGTH(args[0]);
        }
        else {
            encoded = PyUnicode_AsUTF8String(args[0]);
            if (encoded == NULL) {
                return NULL;
            }
            src = (const unsigned char *)PyBytes_AS_STRING(encoded);
            n = PyBytes_GET_SIZE(encoded);
        }
    }
    else {
        first = 0x82;
        if (PyObject_GetBuffer(args[0], &payload, PyBUF_SIMPLE) < 0) {
            return NULL;
        }
        src = payload.buf;
        n = payload.len;
    }
    head = (n < 126 ? 2 : n < 0x10000 ? 4 : 10) + (masked ? 4 : 0);
    out = PyBytes_FromStringAndSize(NULL, head + n);
    if (out != NULL) {
        at = (unsigned char *)PyBytes_AS_STRING(out);
        at[0] = first;
        if (n < 126) {
            at[1] = (unsigned char)n;
        }
        else if (n < 0x10000) {
            at[1] = 126;
            at[2] = (unsigned char)(n >> 8);
            at[3] = (unsigned char)n;
        }
        else {
            int i;
            at[1] = 127;
            for (i = 0; i < 8; i++) {
                at[2 + i] = (unsigned char)((uint64_t)n >> (56 - 8 * i));
            }
        }
        if (masked) {
            at[1] |= 0x80;
            memcpy(at + head - 4, key, 4);
            xor_key(at + head, src, n, key);
        }
        else {
            memcpy(at + head, src, n);
        }
    }
    Py_XDECREF(encoded);
    if (payload.obj != NULL) {
        PyBuffer_Release(&payload);
    }
    return out;
}

/* The arguments shared by the two readers: a buffer, a position in it, where
 * its data ends, the shortest header (2, or 6 with a masking key), the MASK
 * bit to expect (0 or 0x80) and two limits.  Checked once, here, so that
 * every later read is within [0, end) and end is within the buffer. */
typedef struct {
    Py_buffer view;
    Py_ssize_t pos, end, head, expect_mask, limit, budget;
} Frames;

static int
get_frames(const char *name, PyObject *const *args, Py_ssize_t nargs, Py_ssize_t count, Frames *f)
{
    Py_ssize_t *fields[6] = {&f->pos, &f->end, &f->head, &f->expect_mask, &f->limit, &f->budget};
    Py_ssize_t i;

    if (!check_count(name, nargs, count)) {
        return -1;
    }
    f->budget = PY_SSIZE_T_MAX;
    for (i = 1; i < count; i++) {
        if (as_size(args[i], fields[i - 1]) < 0) {
            return -1;
        }
    }
    if (PyObject_GetBuffer(args[0], &f->view, PyBUF_SIMPLE) < 0) {
        return -1;
    }
    if (f->pos < 0 || f->end < f->pos || f->end > f->view.len
        || !((f->head == 2 && f->expect_mask == 0) || (f->head == 6 && f->expect_mask == 0x80))) {
        PyBuffer_Release(&f->view);
        PyErr_SetString(PyExc_ValueError, "positions outside the buffer, or a wrong header size");
        return -1;
    }
    return 0;
}

PyDoc_STRVAR(whole_frame_doc,
"whole_frame(buf, pos, end, head, expect_mask, limit, /)\n\n"
"The receive fast path: if ``buf[pos:end]`` starts with a whole text or\n"
"binary frame with FIN, no RSV bit, the MASK bit ``expect_mask``, a 7- or\n"
"16-bit length of at most ``limit``, and (text) valid UTF-8, return\n"
"``(where it ends, its payload as str or bytes)``; else None.");

static PyObject *
whole_frame(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    Frames f;
    const unsigned char *buf;
    Py_ssize_t length, start, stop;
    unsigned char first;
    unsigned char small[128];
    PyObject *data = NULL;

    if (get_frames("whole_frame", args, nargs, 6, &f) < 0) {
        return NULL;
    }
    buf = f.view.buf;
    if (f.end - f.pos < f.head + 2) {
        goto none;  /* enough to read a 16-bit length */
    }
    first = buf[f.pos];
    length = buf[f.pos + 1] ^ f.expect_mask;  /* 128 or more if the MASK bit is wrong */
    start = f.pos + f.head;
    if (length == 126) {
        length = ((Py_ssize_t)buf[f.pos + 2] << 8) | buf[f.pos + 3];
        start += 2;
    }
    else if (length > 126) {
        goto none;
    }
    stop = start + length;
    if (first < 0x81 || first > 0x82 || stop > f.end || length > f.limit) {
        goto none;
    }
    if (first == 0x82) {
        data = PyBytes_FromStringAndSize(NULL, length);
        if (data == NULL) {
            goto error;
        }
        if (f.expect_mask) {
            xor_key((unsigned char *)PyBytes_AS_STRING(data), buf + start, length, buf + start - 4);
        }
        else {
            memcpy(PyBytes_AS_STRING(data), buf + start, length);
        }
    }
    else {
        const unsigned char *text = buf + start;
        char *scratch = NULL;
        if (f.expect_mask) {
            scratch = length <= (Py_ssize_t)sizeof(small) ? (char *)small : PyMem_Malloc(length);
            if (scratch == NULL) {
                PyErr_NoMemory();
                goto error;
            }
            xor_key((unsigned char *)scratch, text, length, buf + start - 4);
            text = (unsigned char *)scratch;
        }
        data = PyUnicode_DecodeUTF8((const char *)text, length, NULL);
        if (scratch != NULL && scratch != (char *)small) {
            PyMem_Free(scratch);
        }
        if (data == NULL) {
            if (!PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) {
                goto error;
            }
            PyErr_Clear();  /* the general path fails the connection with 1007 */
            goto none;
        }
    }
    PyBuffer_Release(&f.view);
    return found(stop, data, NULL);
none:
    PyBuffer_Release(&f.view);
    Py_RETURN_NONE;
error:
    PyBuffer_Release(&f.view);
    return NULL;
}

PyDoc_STRVAR(small_frames_doc,
"small_frames(buf, stop, end, head, expect_mask, small, budget, /)\n\n"
"The continuation frames of at most ``small`` bytes (and ``budget`` in all)\n"
"from ``stop`` on, whole before ``end``: ``(where they end, their payloads\n"
"unmasked and joined, whether the last had FIN)``, or None for no frame.");

static PyObject *
small_frames(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    Frames f;
    const unsigned char *buf;
    Py_ssize_t at, total = 0, length, start;
    int finished = 0;
    unsigned char *out;
    PyObject *data;

    if (get_frames("small_frames", args, nargs, 7, &f) < 0) {
        return NULL;
    }
    buf = f.view.buf;
    if (f.limit > 125) {
        f.limit = 125;
    }
    /* First pass: how far the run goes, and how long its payload is. */
    for (at = f.pos;;) {
        unsigned char first;
        start = at + f.head;
        if (start > f.end) {
            break;
        }
        first = buf[at];
        length = buf[at + 1] ^ f.expect_mask;  /* 128 or more if the MASK bit is wrong */
        if ((first & 0x7F) || length > f.limit || length > f.end - start || length > f.budget - total) {
            break;
        }
        total += length;
        at = start + length;
        if (first) {  /* 0x80: FIN, the last piece */
            finished = 1;
            break;
        }
    }
    if (at == f.pos) {
        PyBuffer_Release(&f.view);
        Py_RETURN_NONE;
    }
    data = PyBytes_FromStringAndSize(NULL, total);
    if (data == NULL) {
        PyBuffer_Release(&f.view);
        return NULL;
    }
    /* Second pass, over the frames the first one took. */
    out = (unsigned char *)PyBytes_AS_STRING(data);
    while (f.pos < at) {
        start = f.pos + f.head;
        length = buf[f.pos + 1] ^ f.expect_mask;
        if (f.expect_mask) {
            xor_key(out, buf + start, length, buf + start - 4);
        }
        else {
            memcpy(out, buf + start, length);
        }
        out += length;
        f.pos = start + length;
    }
    PyBuffer_Release(&f.view);
    return found(at, data, finished ? Py_True : Py_False);
}

static PyMethodDef methods[] = {
    {"apply_mask", (PyCFunction)(void (*)(void))apply_mask, METH_FASTCALL, apply_mask_doc},
    {"mask_frame", (PyCFunction)(void (*)(void))mask_frame, METH_FASTCALL, mask_frame_doc},
    {"message_frame", (PyCFunction)(void (*)(void))message_frame, METH_FASTCALL, message_frame_doc},
    {"whole_frame", (PyCFunction)(void (*)(void))whole_frame, METH_FASTCALL, whole_frame_doc},
    {"small_frames", (PyCFunction)(void (*)(void))small_frames, METH_FASTCALL, small_frames_doc},
    {NULL, NULL, 0, NULL},
};

static PyModuleDef_Slot slots[] = {
#if PY_VERSION_HEX >= 0x030C0000
    /* No state of its own: one module per interpreter, each GIL apart. */
    {Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},
#endif
#if PY_VERSION_HEX >= 0x030D0000
    /* ...and safe without the GIL: importing it into a free-threaded
     * CPython (3.13t and later) keeps free threading on.  (Other builds
     * ignore the slot.) */
    {Py_mod_gil, Py_MOD_GIL_NOT_USED},
#endif
    {0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "wsproto_lite._speedups",
    .m_doc = "The compiled twins of wsproto_lite's hot-path functions (see wsproto_lite._speed).",
    .m_size = 0,
    .m_methods = methods,
    .m_slots = slots,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    return PyModuleDef_Init(&module);
}
