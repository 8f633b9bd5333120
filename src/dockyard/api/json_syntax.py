"""Go's ``encoding/json`` scanner, to word a malformed body as dockerd does.

Clients print dockerd's error for a malformed body verbatim (``invalid JSON: invalid character
'x' looking for beginning of object key string``), and scripts match it. Python's decoder finds
the same errors but words them its own way and places them differently (an unterminated string
is reported where the string starts, a truncated literal where the literal starts), so it cannot
be translated message by message. Instead, once Python's decoder has refused a body, this module
runs the state machine of Go's ``encoding/json/scanner.go`` over the bytes and reports what Go
would have reported. It runs only on the error path, so its per-byte cost never touches a
well-formed request.

Go has two readers, and moby uses both:

- **``json.Decoder``** (moby ``httputils.ReadJSON``, every request body): it reads one value
  and stops. A body that ends inside the value is ``unexpected EOF``; one that holds only
  whitespace is ``io.EOF`` (moby: ``got EOF while reading request body``). A value that ends at
  a closing bracket ends there, and whatever follows is left for ``Decoder.More``: moby refuses
  it with ``unexpected content after JSON``, unless it starts with ``]`` or ``}``, which
  ``More`` does not count. A scalar (number, string, literal) ends only at the next byte, and a
  byte that is neither a space nor the end makes the scanner itself fail (``invalid character
  'x' after top-level value``).
- **``json.Unmarshal``** (moby ``filters.FromJSON``, the ``filters`` query parameter): it checks
  the whole input first, so a truncated input is ``unexpected end of JSON input`` and trailing
  bytes are ``after top-level value``.

A syntax error reads ``invalid character <c> <context>``, where ``<c>`` is the offending *byte*
quoted as Go's ``quoteChar`` quotes it (a byte of a UTF-8 sequence is shown as the Latin-1
character of that value, as Go does). Nesting deeper than ``max_depth`` fails at the opening
bracket (``exceeded max depth``; Go's limit is 10000, the API's is lower).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["DecoderVerdict", "decoder_verdict", "has_more", "unmarshal_error"]

_SPACE = frozenset(b" \t\r\n")
_DIGITS = frozenset(b"0123456789")
_HEX = frozenset(b"0123456789abcdefABCDEF")
_ESCAPES = frozenset(b'bfnrt\\/"')
_STRING_RUN = re.compile(rb'[^"\\\x00-\x1f]+')  # bytes a string may hold with no state change

# The scanner's answers (Go's scanContinue ... scanError, the ones that matter here).
_CONTINUE, _END_OBJECT, _END_ARRAY, _END, _ERROR = range(5)
# What an open bracket is waiting for (Go's parseObjectKey, parseObjectValue, parseArrayValue).
_OBJECT_KEY, _OBJECT_VALUE, _ARRAY_VALUE = range(3)

_LITERALS = {ord("t"): b"true", ord("f"): b"false", ord("n"): b"null"}
_GO_MAX_DEPTH = 10000

_Step = Callable[[int], int]


class _SyntaxError(Exception):
    def __init__(self, char: int, context: str) -> None:
        super().__init__(f"invalid character {_quote_char(char)} {context}")
        self.offset = 0


def _quote_char(char: int) -> str:
    """Go's ``quoteChar``: the byte as a Go-quoted one-character string in single quotes."""
    if char == ord("'"):
        return "'\\''"
    if char == ord('"'):
        return "'\"'"
    text = chr(char)  # Go converts the byte to the rune of the same value
    named = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}
    if text in named:
        return f"'{named[text]}'"
    if text == "\\":
        return "'\\\\'"
    if text.isprintable():  # Go's strconv.IsPrint agrees with this for U+0000..U+00FF
        return f"'{text}'"
    return f"'\\x{char:02x}'" if char < 0x80 else f"'\\u{char:04x}'"


class _Scanner:
    """Go's scanner, one byte at a time; ``step`` returns one of the ``_`` answers above."""

    def __init__(self, max_depth: int) -> None:
        self._max_depth = max_depth
        self._stack: list[int] = []
        self._state: _Step = self._begin_value
        self._word = b""  # the literal being read (true, false, null) and how much of it is read
        self._read = 0
        self._hex_left = 0
        self.end_top = False

    def step(self, char: int) -> int:
        return self._state(char)

    def finish(self) -> int:
        """Go's ``scanner.eof`` without the error: ``_END`` if the input may end here."""
        if self.end_top:
            return _END
        self._state(ord(" "))
        return _END if self.end_top else _ERROR

    # --- values -----------------------------------------------------------------------------
    def _begin_value(self, c: int) -> int:
        if c in _SPACE:
            return _CONTINUE
        if c == ord("{"):
            return self._push(c, _OBJECT_KEY, self._begin_key_or_empty)
        if c == ord("["):
            return self._push(c, _ARRAY_VALUE, self._begin_value_or_empty)
        if c == ord('"'):
            self._state = self._in_string
        elif c == ord("-"):
            self._state = self._negative
        elif c == ord("0"):
            self._state = self._zero
        elif c in _DIGITS:
            self._state = self._integer
        elif c in _LITERALS:
            self._word, self._read = _LITERALS[c], 1
            self._state = self._in_literal
        else:
            raise _SyntaxError(c, "looking for beginning of value")
        return _CONTINUE

    def _push(self, c: int, kind: int, then: _Step) -> int:
        self._stack.append(kind)
        if len(self._stack) > self._max_depth:
            raise _SyntaxError(c, "exceeded max depth")
        self._state = then
        return _CONTINUE

    def _begin_value_or_empty(self, c: int) -> int:
        if c in _SPACE:
            return _CONTINUE
        if c == ord("]"):
            return self._end_value(c)
        return self._begin_value(c)

    def _begin_key_or_empty(self, c: int) -> int:
        if c in _SPACE:
            return _CONTINUE
        if c == ord("}"):
            self._stack[-1] = _OBJECT_VALUE
            return self._end_value(c)
        return self._begin_key(c)

    def _begin_key(self, c: int) -> int:
        if c in _SPACE:
            return _CONTINUE
        if c != ord('"'):
            raise _SyntaxError(c, "looking for beginning of object key string")
        self._state = self._in_string
        return _CONTINUE

    def _end_value(self, c: int) -> int:
        if not self._stack:
            self.end_top = True
            self._state = self._end_top
            return self._end_top(c)
        if c in _SPACE:
            self._state = self._end_value
            return _CONTINUE
        kind = self._stack[-1]
        if kind == _OBJECT_KEY:
            if c != ord(":"):
                raise _SyntaxError(c, "after object key")
            self._stack[-1] = _OBJECT_VALUE
            self._state = self._begin_value
            return _CONTINUE
        closer, context = (ord("}"), "after object key:value pair")
        if kind == _ARRAY_VALUE:
            closer, context = (ord("]"), "after array element")
        if c == ord(","):
            if kind == _OBJECT_VALUE:
                self._stack[-1] = _OBJECT_KEY
                self._state = self._begin_key
            else:
                self._state = self._begin_value
            return _CONTINUE
        if c != closer:
            raise _SyntaxError(c, context)
        self._stack.pop()
        if not self._stack:
            self.end_top = True
            self._state = self._end_top
        else:
            self._state = self._end_value
        return _END_OBJECT if kind == _OBJECT_VALUE else _END_ARRAY

    def _end_top(self, c: int) -> int:
        if c not in _SPACE:
            raise _SyntaxError(c, "after top-level value")
        return _END

    # --- strings ----------------------------------------------------------------------------
    def _in_string(self, c: int) -> int:
        if c == ord('"'):
            self._state = self._end_value
        elif c == ord("\\"):
            self._state = self._in_escape
        elif c < 0x20:
            raise _SyntaxError(c, "in string literal")
        return _CONTINUE

    def _in_escape(self, c: int) -> int:
        if c in _ESCAPES:
            self._state = self._in_string
        elif c == ord("u"):
            self._hex_left = 4
            self._state = self._in_unicode_escape
        else:
            raise _SyntaxError(c, "in string escape code")
        return _CONTINUE

    def _in_unicode_escape(self, c: int) -> int:
        if c not in _HEX:
            raise _SyntaxError(c, "in \\u hexadecimal character escape")
        self._hex_left -= 1
        if not self._hex_left:
            self._state = self._in_string
        return _CONTINUE

    @property
    def in_string(self) -> bool:
        return self._state == self._in_string

    # --- numbers and literals ---------------------------------------------------------------
    def _negative(self, c: int) -> int:
        if c == ord("0"):
            self._state = self._zero
        elif c in _DIGITS:
            self._state = self._integer
        else:
            raise _SyntaxError(c, "in numeric literal")
        return _CONTINUE

    def _integer(self, c: int) -> int:
        return _CONTINUE if c in _DIGITS else self._zero(c)

    def _zero(self, c: int) -> int:
        """After the integer part: a fraction, an exponent, or the end of the number."""
        if c == ord("."):
            self._state = self._dot
            return _CONTINUE
        return self._exponent_or_end(c)

    def _dot(self, c: int) -> int:
        return self._digit_then(c, "after decimal point in numeric literal", self._fraction)

    def _fraction(self, c: int) -> int:
        return _CONTINUE if c in _DIGITS else self._exponent_or_end(c)

    def _exponent_or_end(self, c: int) -> int:
        if c in b"eE":
            self._state = self._exponent
            return _CONTINUE
        return self._end_value(c)

    def _exponent(self, c: int) -> int:
        if c in b"+-":
            self._state = self._exponent_sign
            return _CONTINUE
        return self._exponent_sign(c)

    def _exponent_sign(self, c: int) -> int:
        return self._digit_then(c, "in exponent of numeric literal", self._exponent_digits)

    def _exponent_digits(self, c: int) -> int:
        return _CONTINUE if c in _DIGITS else self._end_value(c)

    def _digit_then(self, c: int, context: str, then: _Step) -> int:
        """A digit must come here (``context`` says where); then go on with ``then``."""
        if c not in _DIGITS:
            raise _SyntaxError(c, context)
        self._state = then
        return _CONTINUE

    def _in_literal(self, c: int) -> int:
        expected = self._word[self._read]
        if c != expected:
            raise _SyntaxError(c, f"in literal {self._word.decode()} (expecting {_quote_char(expected)})")
        self._read += 1
        if self._read == len(self._word):
            self._state = self._end_value
        return _CONTINUE


@dataclass(frozen=True, slots=True)
class DecoderVerdict:
    """What ``json.Decoder.Decode`` makes of a body: an error, or where the value ends."""

    error: str | None
    """Go's message (``unexpected EOF``, ``invalid character ...``), or None."""
    end: int
    """Offset just after the value (meaningful when ``error`` is None)."""


def decoder_verdict(data: bytes, *, max_depth: int = _GO_MAX_DEPTH) -> DecoderVerdict:
    """Scan the first JSON value of ``data`` as ``json.Decoder.Decode`` reads it.

    ``data`` must hold something besides whitespace (an all-whitespace body is ``io.EOF``,
    which the caller words). Whether bytes after ``end`` are acceptable is ``Decoder.More``'s
    business: see :func:`has_more`.
    """
    scanner = _Scanner(max_depth)
    try:
        end = _feed(scanner, data, stop_at_value_end=True)
    except _SyntaxError as exc:
        return DecoderVerdict(str(exc), exc.offset)
    if end is not None:
        return DecoderVerdict(None, end)
    try:
        if scanner.finish() == _END:
            return DecoderVerdict(None, len(data))
    except _SyntaxError:
        pass  # the Decoder reports any end inside a value as io.ErrUnexpectedEOF
    return DecoderVerdict("unexpected EOF", len(data))


def has_more(data: bytes, end: int) -> bool:
    """``Decoder.More`` after a value ending at ``end``: a next byte that is not ``]`` or ``}``."""
    rest = data[end:].lstrip(b" \t\r\n")
    return bool(rest) and rest[:1] not in (b"]", b"}")


def unmarshal_error(data: bytes, *, max_depth: int = _GO_MAX_DEPTH) -> str | None:
    """``json.Unmarshal``'s syntax error for ``data`` (Go's ``checkValid``), or None if valid."""
    scanner = _Scanner(max_depth)
    try:
        _feed(scanner, data, stop_at_value_end=False)
        if scanner.finish() == _END:
            return None
    except _SyntaxError as exc:
        return str(exc)
    return "unexpected end of JSON input"


def _feed(scanner: _Scanner, data: bytes, *, stop_at_value_end: bool) -> int | None:
    """Step ``scanner`` through ``data``; with ``stop_at_value_end``, return where the first value
    ends as the Decoder sees it (None: the data ended first).

    Raises:
        _SyntaxError: with ``offset`` set to the offending byte's.
    """
    index, size = 0, len(data)
    while index < size:
        if scanner.in_string:  # plain string content changes no state: skip it in one go
            run = _STRING_RUN.match(data, index)
            if run is not None:
                index = run.end()
                continue
        try:
            answer = scanner.step(data[index])
        except _SyntaxError as exc:
            exc.offset = index
            raise
        if stop_at_value_end:
            if answer == _END:  # a scalar ends at the byte after it, which is not consumed
                return index
            if answer in (_END_OBJECT, _END_ARRAY) and scanner.end_top:
                return index + 1
        index += 1
    return None
