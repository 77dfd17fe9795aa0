# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Compiled core of respcore: status lines, header blocks, chunk framing and
Content-Disposition values as bytes.

``respcore._pyencoder`` is the readable twin; both give the same bytes and raise the same
exceptions for every input. When this core finds a fault it asks ``respcore._rules`` to
describe it, so the messages are the twin's too.
"""

from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_GET_SIZE
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.list cimport PyList_GET_ITEM, PyList_GET_SIZE
from cpython.long cimport PyLong_AsLongAndOverflow
from cpython.object cimport PyObject
from cpython.tuple cimport PyTuple_GET_ITEM, PyTuple_GET_SIZE
from cpython.unicode cimport (
    PyUnicode_1BYTE_DATA,
    PyUnicode_1BYTE_KIND,
    PyUnicode_AsUTF8AndSize,
    PyUnicode_GET_LENGTH,
    PyUnicode_KIND,
)
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy

import os
import unicodedata
from collections.abc import Iterable, Mapping

from respcore import _rules

cdef extern from *:
    """
    #if PY_VERSION_HEX < 0x030C0000
    #define respcore_unicode_ready(o) PyUnicode_READY(o)
    #else
    #define respcore_unicode_ready(o) 0
    #endif
    """
    int respcore_unicode_ready(object o) except -1

cdef extern from *:
    """
    #include <stdint.h>
    #include <string.h>
    /* True when every byte of p[0:n] is a field-value octet (RFC 9110 5.5): HTAB, SP, VCHAR
       or obs-text. Eight bytes at a time: a word with no byte below 0x20 and none equal to
       0x7F is good as it stands; only a word that has one (a HTAB, or a fault) goes through
       the table byte by byte. */
    static inline int respcore_value_ok(const unsigned char *p, Py_ssize_t n,
                                        const unsigned char *table) {
        const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
        Py_ssize_t i = 0, j;
        for (; i + 8 <= n; i += 8) {
            uint64_t x, y;
            memcpy(&x, p + i, 8);
            y = x ^ (ones * 0x7F);
            if (((x - ones * 0x20) & ~x & highs) | ((y - ones) & ~y & highs)) {
                for (j = i; j < i + 8; j++) {
                    if (!table[p[j]]) return 0;
                }
            }
        }
        for (; i < n; i++) {
            if (!table[p[i]]) return 0;
        }
        return 1;
    }
    """
    bint respcore_value_ok(const unsigned char* p, Py_ssize_t n,
                           const unsigned char* table) noexcept nogil

LAST_CHUNK = b"0\r\n\r\n"

# One byte table for each rule, consulted for every byte as it is copied.
cdef unsigned char NAME_OK[256]     # RFC 9110 §5.6.2 tchar
cdef unsigned char VALUE_OK[256]    # RFC 9110 §5.5 HTAB, SP, VCHAR, obs-text
cdef unsigned char ATTR_OK[256]     # RFC 8187 §3.2.1 attr-char

cdef int _c
for _c in range(256):
    NAME_OK[_c] = 0
    VALUE_OK[_c] = 1 if (_c == 0x09 or 0x20 <= _c <= 0x7E or _c >= 0x80) else 0
    ATTR_OK[_c] = 0
for _ch in _rules.TOKEN_CHARS:
    NAME_OK[ord(_ch)] = 1
for _ch in _rules.ATTR_CHARS:
    ATTR_OK[ord(_ch)] = 1

# Status lines for every code 100-999 in both versions, built once; the list owns them.
cdef list _LINE_OBJECTS = []
cdef PyObject* _LINES[2][900]
for _v, _version in enumerate(_rules.VERSIONS):
    for _code in range(100, 1000):
        _line = f"HTTP/{_version} {_code} {_rules.REASONS.get(_code, '')}\r\n".encode("ascii")
        _LINE_OBJECTS.append(_line)
        _LINES[_v][_code - 100] = <PyObject*>_line

cdef str _V11 = "1.1"
cdef str _V10 = "1.0"

cdef inline bytes _status_line(object status, object version):
    cdef long code = -1
    cdef int overflow = 0
    cdef int v = -1
    if type(status) is int:
        code = PyLong_AsLongAndOverflow(status, &overflow)
    if version is _V11:
        v = 1
    elif type(version) is str:
        if <str>version == _V11:
            v = 1
        elif <str>version == _V10:
            v = 0
    if overflow or not 100 <= code <= 999 or v < 0:
        code = _rules.check_status(status)
        v = _rules.VERSIONS.index(_rules.check_version(version))
    return <bytes>_LINES[v][code - 100]


def encode_status_line(status, version="1.1"):
    return _status_line(status, version)


cdef class FieldStore:
    """Storage shared with the encoder: ``_fields`` is a list of validated (name, value) str
    pairs. ``respcore.Headers`` builds its mapping interface on it."""

    cdef public list _fields

    def __cinit__(self, *args, **kwargs):
        self._fields = []


ctypedef struct Span:
    const unsigned char* ptr
    Py_ssize_t size


cdef inline bint _span(object text, Span* span) except -1:
    """Point ``span`` at the Latin-1 bytes of a str or bytes; False for anything else,
    including a str that holds a character above U+00FF."""
    if isinstance(text, str):
        respcore_unicode_ready(text)
        if PyUnicode_KIND(text) != PyUnicode_1BYTE_KIND:
            return False
        span.ptr = PyUnicode_1BYTE_DATA(text)
        span.size = PyUnicode_GET_LENGTH(text)
        return True
    if isinstance(text, bytes):
        span.ptr = <const unsigned char*>PyBytes_AS_STRING(text)
        span.size = PyBytes_GET_SIZE(text)
        return True
    return False


cdef inline void _strip(Span* span):
    # RFC 9110 §5.5: leading and trailing whitespace is not part of a field value.
    while span.size and (span.ptr[0] == 0x20 or span.ptr[0] == 0x09):
        span.ptr += 1
        span.size -= 1
    while span.size and (span.ptr[span.size - 1] == 0x20 or span.ptr[span.size - 1] == 0x09):
        span.size -= 1


cdef inline bint _all_in(const unsigned char* src, Py_ssize_t size,
                         const unsigned char* table) noexcept nogil:
    cdef unsigned char ok = 1
    cdef Py_ssize_t i
    for i in range(size):
        ok &= table[src[i]]
    return ok


cdef object _field_list(object headers):
    if type(headers) is list or type(headers) is tuple:
        return headers
    if isinstance(headers, FieldStore):
        return (<FieldStore>headers)._fields
    if isinstance(headers, (str, bytes, bytearray, memoryview)) or headers is None:
        raise _rules.headers_type_error(headers)
    if isinstance(headers, dict) or isinstance(headers, Mapping):
        return list(headers.items())
    if isinstance(headers, Iterable):
        return list(headers)
    raise _rules.headers_type_error(headers)


cdef inline bint _value_span(object value, Span* span, list keep) except -1:
    if _span(value, span):
        return True
    if isinstance(value, int) and not isinstance(value, bool):
        text = "%d" % value
        keep.append(text)
        return _span(text, span)
    return False


cdef enum:
    STACK_FIELDS = 32


def encode_head(status, headers, version="1.1"):
    cdef bytes line = _status_line(status, version)
    cdef object fields = _field_list(headers)
    cdef bint is_list = type(fields) is list
    cdef Py_ssize_t count = PyList_GET_SIZE(fields) if is_list else PyTuple_GET_SIZE(fields)
    cdef Span stack_spans[2 * STACK_FIELDS]
    cdef Span* spans = stack_spans
    cdef Py_ssize_t i, total = PyBytes_GET_SIZE(line) + 2
    cdef PyObject* item
    cdef object name, value
    cdef list keep = None
    cdef bytes result
    cdef char* out
    cdef bint ok = True
    if count > STACK_FIELDS:
        spans = <Span*>malloc(2 * count * sizeof(Span))
        if spans is NULL:
            raise MemoryError()
    try:
        # Pass 1: find every name and value, check their types, add up the size.
        for i in range(count):
            item = PyList_GET_ITEM(fields, i) if is_list else PyTuple_GET_ITEM(fields, i)
            if type(<object>item) is tuple and PyTuple_GET_SIZE(<object>item) == 2:
                name = <object>PyTuple_GET_ITEM(<object>item, 0)
                value = <object>PyTuple_GET_ITEM(<object>item, 1)
            elif type(<object>item) is list and PyList_GET_SIZE(<object>item) == 2:
                name = <object>PyList_GET_ITEM(<object>item, 0)
                value = <object>PyList_GET_ITEM(<object>item, 1)
            else:
                raise _rules.first_fault(fields)
            if not _span(name, &spans[2 * i]) or spans[2 * i].size == 0:
                raise _rules.first_fault(fields)
            if not _span(value, &spans[2 * i + 1]):
                if keep is None:
                    keep = []
                if not _value_span(value, &spans[2 * i + 1], keep):
                    raise _rules.first_fault(fields)
            _strip(&spans[2 * i + 1])
            total += spans[2 * i].size + spans[2 * i + 1].size + 4
        # Pass 2: one allocation; check each run through its table, then memcpy it.
        result = PyBytes_FromStringAndSize(NULL, total)
        out = PyBytes_AS_STRING(result)
        memcpy(out, PyBytes_AS_STRING(line), PyBytes_GET_SIZE(line))
        out += PyBytes_GET_SIZE(line)
        for i in range(count):
            ok &= _all_in(spans[2 * i].ptr, spans[2 * i].size, NAME_OK)
            memcpy(out, spans[2 * i].ptr, spans[2 * i].size)
            out += spans[2 * i].size
            out[0] = b':'
            out[1] = b' '
            out += 2
            ok &= respcore_value_ok(spans[2 * i + 1].ptr, spans[2 * i + 1].size, VALUE_OK)
            memcpy(out, spans[2 * i + 1].ptr, spans[2 * i + 1].size)
            out += spans[2 * i + 1].size
            out[0] = b'\r'
            out[1] = b'\n'
            out += 2
        out[0] = b'\r'
        out[1] = b'\n'
        if not ok:
            raise _rules.first_fault(fields)
        return result
    finally:
        if spans is not stack_spans:
            free(spans)


def check_field(name, value):
    """Validate one header field as ``Headers`` stores it: (name, value without surrounding
    spaces and tabs), both ``str``."""
    cdef Span name_span, value_span
    cdef list keep = []
    if (
        not _span(name, &name_span)
        or name_span.size == 0
        or not _value_span(value, &value_span, keep)
        or not _all_in(name_span.ptr, name_span.size, NAME_OK)
        or not respcore_value_ok(value_span.ptr, value_span.size, VALUE_OK)
    ):
        raise _rules.first_fault([(name, value)])
    if type(name) is not str:
        name = name.decode("latin-1") if isinstance(name, bytes) else str.__str__(name)
    if keep:
        value = keep[0]
    elif type(value) is not str:
        value = value.decode("latin-1") if isinstance(value, bytes) else str.__str__(value)
    return name, (<str>value).strip(" \t")


cdef inline Py_ssize_t _hex_size(Py_ssize_t size, char* digits) noexcept nogil:
    """Write ``size`` as lowercase hex with no leading zeros; return how many digits."""
    cdef char tmp[16]
    cdef Py_ssize_t count = 0, i
    while True:
        tmp[count] = b"0123456789abcdef"[size & 15]
        count += 1
        size >>= 4
        if size == 0:
            break
    for i in range(count):
        digits[i] = tmp[count - 1 - i]
    return count


def encode_chunk(data):
    cdef const char* ptr
    cdef Py_ssize_t size, width
    cdef Py_buffer view
    cdef bint have_view = False
    cdef char digits[16]
    cdef bytes result
    cdef char* out
    if isinstance(data, bytes):
        ptr = PyBytes_AS_STRING(data)
        size = PyBytes_GET_SIZE(data)
    elif isinstance(data, str):
        ptr = PyUnicode_AsUTF8AndSize(data, &size)
    elif isinstance(data, bytearray):
        ptr = PyByteArray_AS_STRING(data)
        size = PyByteArray_GET_SIZE(data)
    elif isinstance(data, memoryview):
        if not (<object>data).contiguous:
            data = bytes(data)
            ptr = PyBytes_AS_STRING(data)
            size = PyBytes_GET_SIZE(data)
        else:
            PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
            have_view = True
            ptr = <const char*>view.buf
            size = view.len
    else:
        raise _rules.chunk_type_error(data)
    try:
        if size == 0:
            return b""
        width = _hex_size(size, digits)
        result = PyBytes_FromStringAndSize(NULL, width + size + 4)
        out = PyBytes_AS_STRING(result)
        memcpy(out, digits, width)
        out[width] = b'\r'
        out[width + 1] = b'\n'
        memcpy(out + width + 2, ptr, size)
        out[width + 2 + size] = b'\r'
        out[width + 3 + size] = b'\n'
        return result
    finally:
        if have_view:
            PyBuffer_Release(&view)


cdef inline bint _dropped(Py_UCS4 ch) noexcept:
    # Control characters (Unicode category Cc) and bidirectional formatting characters.
    if ch < 0x20 or 0x7F <= ch <= 0x9F:
        return True
    return (ch == 0x061C or ch == 0x200E or ch == 0x200F or 0x202A <= ch <= 0x202E
            or 0x2066 <= ch <= 0x2069)


cdef str _fallback_char(str char):
    cdef list kept = []
    cdef Py_UCS4 ch
    for ch in unicodedata.normalize("NFKD", char):
        if 0x20 <= ch <= 0x7E and ch != u'/' and ch != u'\\':
            kept.append(ch)
    return "".join(kept) if kept else "_"


def content_disposition(filename, disposition="attachment"):
    cdef Span span
    cdef str full, name
    cdef Py_ssize_t i, start = 0
    cdef Py_UCS4 ch, widest = 0
    cdef list kept, encoded
    cdef bytes utf8
    cdef unsigned char byte
    if (
        not isinstance(disposition, str)
        or not _span(disposition, &span)
        or span.size == 0
        or not _all_in(span.ptr, span.size, NAME_OK)
    ):
        raise _rules.disposition_error(disposition)
    if filename is None:
        return disposition
    if isinstance(filename, os.PathLike):
        filename = os.fspath(filename)
    if not isinstance(filename, str):
        raise _rules.filename_type_error(filename)
    full = filename
    # RFC 6266 §4.3: recipients use only the last path component; send no more than that.
    for i in range(len(full)):
        ch = full[i]
        if ch == u'/' or ch == u'\\':
            start = i + 1
    kept = []
    for i in range(start, len(full)):
        ch = full[i]
        if not _dropped(ch):
            kept.append(ch)
            if ch > widest:
                widest = ch
    name = "".join(kept)
    if name == "" or name == "." or name == "..":
        raise _rules.filename_empty_error(full)
    if widest < 0x80:
        return f'{disposition}; filename="{name.replace(chr(34), chr(92) + chr(34))}"'
    try:
        utf8 = name.encode("utf-8")
    except UnicodeEncodeError:
        raise _rules.filename_encode_error(full) from None
    # RFC 6266 §4.3 / RFC 8187 §3.2: an ASCII fallback for old recipients, then filename*.
    fallback = "".join([c if ord(c) < 0x80 else _fallback_char(c) for c in name])
    encoded = []
    for byte in utf8:
        if ATTR_OK[byte]:
            encoded.append(chr(byte))
        else:
            encoded.append("%%%02X" % byte)
    quoted = fallback.replace('"', '\\"')
    return f"{disposition}; filename=\"{quoted}\"; filename*=UTF-8''{''.join(encoded)}"


# -- server-sent events ------------------------------------------------------------------------

cdef inline Py_ssize_t _lines_size(const char* s, Py_ssize_t n, Py_ssize_t prefix) noexcept nogil:
    """Bytes that ``s`` takes as field lines: each line (ended by CRLF, LF or CR; WHATWG HTML
    §9.2.5) written as prefix + line + LF."""
    cdef Py_ssize_t i = 0, size = prefix + 1 + n
    cdef char c
    while i < n:
        c = s[i]
        if c == b'\r':
            if i + 1 < n and s[i + 1] == b'\n':
                i += 1
                size -= 1
            size += prefix
        elif c == b'\n':
            size += prefix
        i += 1
    return size


cdef inline char* _write_lines(char* out, const char* prefix, Py_ssize_t plen, const char* s,
                               Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i = 0, start = 0
    cdef char c
    memcpy(out, prefix, plen)
    out += plen
    while i < n:
        c = s[i]
        if c == b'\r' or c == b'\n':
            memcpy(out, s + start, i - start)
            out += i - start
            out[0] = b'\n'
            out += 1
            if c == b'\r' and i + 1 < n and s[i + 1] == b'\n':
                i += 1
            memcpy(out, prefix, plen)
            out += plen
            start = i + 1
        i += 1
    memcpy(out, s + start, n - start)
    out += n - start
    out[0] = b'\n'
    return out + 1


cdef inline bint _has(const char* s, Py_ssize_t n, char a, char b, char c) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        if s[i] == a or s[i] == b or s[i] == c:
            return True
    return False


def encode_event(data=None, event=None, id=None, retry=None, comment=None):
    cdef const char* d = NULL
    cdef const char* e = NULL
    cdef const char* i = NULL
    cdef const char* m = NULL
    cdef Py_ssize_t dn = 0, en = 0, idn = 0, mn = 0, size = 1
    cdef bytes digits = None
    cdef bytes result
    cdef char* out
    if (
        (data is not None and type(data) is not str)
        or (event is not None and type(event) is not str)
        or (id is not None and type(id) is not str)
        or (retry is not None and (type(retry) is not int or retry < 0))
        or (comment is not None and type(comment) is not str)
        or (data is None and event is None and id is None and retry is None and comment is None)
    ):
        fault = _rules.event_fault(data, event, id, retry, comment)
        if fault is not None:
            raise fault
    try:
        # UTF-8 in the order the twin encodes: comment, event, id, data.
        if comment is not None:
            m = PyUnicode_AsUTF8AndSize(comment, &mn)
            size += _lines_size(m, mn, 2)
        if event is not None:
            e = PyUnicode_AsUTF8AndSize(event, &en)
            size += en + 8
        if id is not None:
            i = PyUnicode_AsUTF8AndSize(id, &idn)
            size += idn + 5
        if data is not None:
            d = PyUnicode_AsUTF8AndSize(data, &dn)
            size += _lines_size(d, dn, 6)
    except UnicodeEncodeError:
        raise _rules.event_fault(data, event, id, retry, comment) from None
    if (e != NULL and _has(e, en, b'\r', b'\n', b'\n')) or (
        i != NULL and _has(i, idn, b'\r', b'\n', b'\0')
    ):
        raise _rules.event_fault(data, event, id, retry, comment)
    if retry is not None:
        digits = b"%d" % retry
        size += PyBytes_GET_SIZE(digits) + 8
    result = PyBytes_FromStringAndSize(NULL, size)
    out = PyBytes_AS_STRING(result)
    if m != NULL:
        out = _write_lines(out, ": ", 2, m, mn)
    if e != NULL:
        memcpy(out, b"event: ", 7)
        memcpy(out + 7, e, en)
        out[7 + en] = b'\n'
        out += en + 8
    if i != NULL:
        memcpy(out, b"id: ", 4)
        memcpy(out + 4, i, idn)
        out[4 + idn] = b'\n'
        out += idn + 5
    if digits is not None:
        memcpy(out, b"retry: ", 7)
        memcpy(out + 7, PyBytes_AS_STRING(digits), PyBytes_GET_SIZE(digits))
        out += PyBytes_GET_SIZE(digits) + 7
        out[0] = b'\n'
        out += 1
    if d != NULL:
        out = _write_lines(out, "data: ", 6, d, dn)
    out[0] = b'\n'
    return result
