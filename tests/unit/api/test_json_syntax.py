"""Malformed JSON worded as Go's encoding/json words it (moby's ``invalid JSON: ...``).

The expected texts are Go's (``encoding/json/scanner.go`` contexts, ``quoteChar``, and the
Decoder's ``unexpected EOF`` versus Unmarshal's ``unexpected end of JSON input``).
"""

from __future__ import annotations

import pytest

from dockyard.api.json_syntax import decoder_verdict, has_more, unmarshal_error
from dockyard.api.request import MAX_JSON_DEPTH, decode_json, parse_filters
from dockyard.errors import InvalidArgument

DECODER = [
    # id, body, Go's json.Decoder error
    ("truncated-object", b'{"Image": "alpine",', "unexpected EOF"),
    ("truncated-string", b'{"Image": "alp', "unexpected EOF"),
    ("truncated-literal", b'{"Tty": tr', "unexpected EOF"),
    ("truncated-number", b"[1, -", "unexpected EOF"),
    ("bad-literal", b'{"Tty": trx}', "invalid character 'x' in literal true (expecting 'u')"),
    ("bad-false", b"[fals]", "invalid character ']' in literal false (expecting 'e')"),
    ("bad-null", b"[nul1]", "invalid character '1' in literal null (expecting 'l')"),
    ("key-not-string", b"{x", "invalid character 'x' looking for beginning of object key string"),
    ("no-value", b'{"a": }', "invalid character '}' looking for beginning of value"),
    ("missing-colon", b'{"a" 1}', "invalid character '1' after object key"),
    ("missing-comma", b'{"a": 1 "b": 2}', "invalid character '\"' after object key:value pair"),
    ("array-comma", b"[1 2]", "invalid character '2' after array element"),
    ("after-scalar", b"123x", "invalid character 'x' after top-level value"),
    ("after-string", b'"abc"x', "invalid character 'x' after top-level value"),
    ("nan", b'{"a": NaN}', "invalid character 'N' looking for beginning of value"),
    ("minus", b'{"a": -}', "invalid character '}' in numeric literal"),
    ("dot", b'{"a": 1.}', "invalid character '}' after decimal point in numeric literal"),
    ("exponent", b'{"a": 1e+}', "invalid character '}' in exponent of numeric literal"),
    ("escape", b'{"a": "\\q"}', "invalid character 'q' in string escape code"),
    ("unicode-escape", b'{"a": "\\u12g4"}', "invalid character 'g' in \\u hexadecimal character escape"),
    ("control-in-string", b'{"a": "x\ny"}', "invalid character '\\n' in string literal"),
    ("tab-in-string", b'{"a": "x\ty"}', "invalid character '\\t' in string literal"),
    ("escape-char", b"\x1b", "invalid character '\\x1b' looking for beginning of value"),
    ("form-feed", b"\x0c{}", "invalid character '\\f' looking for beginning of value"),
    ("single-quote", b"{'a': 1}", "invalid character '\\'' looking for beginning of object key string"),
    ("backslash", b"[\\]", "invalid character '\\\\' looking for beginning of value"),
    ("utf8-byte", b'{"a": \xc3\xa9}', "invalid character '\u00c3' looking for beginning of value"),
    ("nbsp-byte", b"\xa0", "invalid character '\\u00a0' looking for beginning of value"),
    ("c1-byte", b"\x85", "invalid character '\\u0085' looking for beginning of value"),
]  # fmt: skip


@pytest.mark.parametrize(("body", "message"), [c[1:] for c in DECODER], ids=[c[0] for c in DECODER])
def test_decoder_errors_are_gos(body: bytes, message: str) -> None:
    assert decoder_verdict(body).error == message


def _is_utf8(body: bytes) -> bool:
    try:
        body.decode()
    except UnicodeDecodeError:
        return False  # refused before any parsing (``invalid UTF-8 at offset N``)
    return True


UTF8 = [c for c in DECODER if _is_utf8(c[1])]


@pytest.mark.parametrize(("body", "message"), [c[1:] for c in UTF8], ids=[c[0] for c in UTF8])
def test_request_bodies_are_refused_in_mobys_words(body: bytes, message: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        decode_json(body)
    assert str(caught.value) == f"invalid JSON: {message}"


@pytest.mark.parametrize(
    ("body", "end", "more"),
    [
        (b'{"a": 1} x', 8, True),  # content after the value: moby's "unexpected content after JSON"
        (b"{}]", 2, False),  # Decoder.More does not count a closing bracket
        (b"[1] }", 3, False),
        (b"true \n", 4, False),
        (b"12 ", 2, False),  # a scalar ends at the byte after it
        (b"12", 2, False),
    ],
)
def test_where_a_value_ends_and_what_follows(body: bytes, end: int, more: bool) -> None:
    verdict = decoder_verdict(body)
    assert (verdict.error, verdict.end, has_more(body, verdict.end)) == (None, end, more)


def test_trailing_content_is_mobys_error_and_a_closing_bracket_is_not() -> None:
    with pytest.raises(InvalidArgument, match=r"^unexpected content after JSON$"):
        decode_json(b'{"Image": "a"} {}')
    assert decode_json(b'{"Image": "a"}]') == {"Image": "a"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"a":', "unexpected end of JSON input"),
        ('{"a": ["b"]}x', "invalid character 'x' after top-level value"),
        ("-", "invalid character ' ' in numeric literal"),  # eof() feeds a space, as Go does
        ('{"a": ["b"]} ', None),
    ],
)
def test_unmarshal_errors_are_gos(text: str, message: str | None) -> None:
    assert unmarshal_error(text.encode()) == message


def test_filters_use_unmarshal_words() -> None:
    with pytest.raises(InvalidArgument, match=r"^invalid filter: unexpected end of JSON input$"):
        parse_filters('{"label": ["a"]')
    assert parse_filters('{"label": ["a"]} ') == {"label": ["a"]}


def test_nesting_is_bounded_at_the_opening_bracket() -> None:
    deep = b'{"a": ' + b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1) + b"}"
    with pytest.raises(InvalidArgument) as caught:
        decode_json(deep)
    assert str(caught.value) == "invalid JSON: invalid character '[' exceeded max depth"
    fits = b"[" * (MAX_JSON_DEPTH - 1) + b"]" * (MAX_JSON_DEPTH - 1)
    assert decode_json(fits) is not None


def test_long_strings_are_scanned_quickly() -> None:
    body = b'{"Env": ["' + b"x" * 4_000_000 + b'"], "Cmd": [1 2]}'
    assert decoder_verdict(body).error == "invalid character '2' after array element"
