"""The Go template subset, checked against answers Go's text/template gave through docker."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from dockyard.cli import gofmt, templates
from dockyard.cli.commands import inspection
from dockyard.cli.commands.base import Cli, StatusError
from dockyard.cli.gofmt import GoMap, GoSlice, GoStruct, TemplateObject, to_go
from dockyard.cli.templates import TemplateError

ORACLE = json.loads((Path(__file__).parent / "data" / "inspect_templates.json").read_text())
DOC = ORACLE["doc"]


def _inspect(fmt: str, raw: bytes) -> tuple[int, str, str]:
    """`container inspect -f fmt` over one object, as the command runs it."""
    out, err = io.StringIO(), io.StringIO()
    cli = Cli(stdout=out, stderr=err, environ={})
    try:
        status = inspection.inspect(cli, ["x"], fmt, lambda ref: raw)
    except StatusError as exc:
        status = exc.status
        err.write(exc.message + "\n")
    return status, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("case", ORACLE["cases"], ids=[c["template"] for c in ORACLE["cases"]])
def test_inspect_template_prints_what_go_printed(case) -> None:
    raw = json.dumps(DOC).encode()
    assert _inspect(case["template"], raw) == (case["rc"], case["out"], case["err"])


@pytest.mark.parametrize(
    ("src", "expected"),
    [
        pytest.param("{{.ID}}", "3030c9c91e12", id="ID-is-Id"),
        pytest.param("{{.HostConfig.NanoCPUs}}", "1500000000", id="NanoCPUs-is-NanoCpus"),
    ],
)
def test_go_field_names_reach_their_json_keys(src, expected) -> None:
    assert _inspect(src, json.dumps(DOC).encode())[1].startswith(expected)


def test_printing_a_struct_is_refused_not_guessed() -> None:
    # Go prints a struct in declaration order with pointers as addresses; JSON cannot say that.
    status, _out, err = _inspect("{{.NetworkSettings.Networks}}", json.dumps(DOC).encode())
    assert status == 1
    assert "printing a whole object is not supported; use {{json .Field}}" in err


@pytest.mark.parametrize(
    ("src", "message"),
    [
        pytest.param('{{define "x"}}{{end}}', "{{define}} is not supported", id="define"),
        pytest.param('{{template "x"}}', "{{template}} is not supported", id="template"),
        pytest.param('{{block "x" .}}{{end}}', "{{block}} is not supported", id="block"),
        pytest.param("{{call .F}}", 'function "call" is not supported', id="call"),
        pytest.param("{{html .}}", 'function "html" is not supported', id="html"),
        pytest.param("{{end}}", "unexpected {{end}}", id="stray-end"),
        pytest.param("{{if .}}", "unexpected EOF", id="unclosed-if"),
        pytest.param("{{continue}}", "{{continue}} outside {{range}}", id="continue-outside-range"),
        pytest.param("{{.A | }}", "missing value for command", id="empty-pipe-stage"),
        pytest.param("{{3.x}}", "bad number syntax", id="bad-number"),
        pytest.param('{{"open}}', "unterminated quoted string", id="unterminated-string"),
        pytest.param("{{/* open }}", "unclosed comment", id="unclosed-comment"),
    ],
)
def test_unsupported_or_malformed_templates_fail_clearly(src, message) -> None:
    with pytest.raises(TemplateError) as caught:
        templates.parse(src)
    assert message in str(caught.value)
    assert str(caught.value).startswith("template parsing error: template: :1")


class Row(TemplateObject):
    json_fields = ("ID", "Names")

    def ID(self) -> str:
        return "abc"

    def Names(self) -> str:
        return "web<1>"

    def Label(self, name: str) -> str:
        return {"tier": "front"}.get(name, "")


@pytest.mark.parametrize(
    ("src", "expected"),
    [
        pytest.param("{{.ID}}", "abc", id="method-field"),
        pytest.param('{{.Label "tier"}}', "front", id="method-with-argument"),
        pytest.param('{{"tier" | .Label}}', "front", id="method-gets-piped-value"),
        pytest.param(
            "{{json .}}", '{"ID":"abc","Names":"web\\u003c1\\u003e"}', id="json-object-escapes-html"
        ),
        pytest.param("{{.Names | upper}}", "WEB<1>", id="pipe-to-function"),
    ],
)
def test_formatter_objects_expose_their_methods(src, expected) -> None:
    assert templates.parse(src).execute(Row()) == expected


def test_unknown_field_of_formatter_object_names_its_type() -> None:
    with pytest.raises(TemplateError, match=r"can't evaluate field Nope in type \*formatter.Row"):
        templates.parse("{{.Nope}}").execute(Row())


@pytest.mark.parametrize(
    ("value", "printed"),
    [
        pytest.param(None, "<nil>", id="nil"),
        pytest.param(gofmt.MISSING, "<no value>", id="missing"),
        pytest.param(True, "true", id="bool"),
        pytest.param(42, "42", id="int"),
        pytest.param(0.5, "0.5", id="float"),
        pytest.param(1e6, "1e+06", id="float-exponent-from-1e6"),
        pytest.param(123456.0, "123456", id="float-below-1e6"),
        pytest.param(1234567.0, "1.234567e+06", id="float-many-digits"),
        pytest.param(0.0001, "0.0001", id="small-float"),
        pytest.param(0.00001, "1e-05", id="tiny-float"),
        pytest.param(GoSlice(["a", "b"]), "[a b]", id="slice"),
        pytest.param(GoSlice(nil=True), "[]", id="nil-slice"),
        pytest.param(GoMap({"b": 1, "a": GoSlice(["x"])}), "map[a:[x] b:1]", id="map-sorted"),
        pytest.param(GoMap(nil=True), "map[]", id="nil-map"),
        pytest.param(GoStruct(), "{}", id="empty-struct"),
    ],
)
def test_go_str_prints_like_fmt(value, printed) -> None:
    assert gofmt.go_str(value) == printed


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        pytest.param(to_go({"B": 1, "A": [1.5, None]}), '{"B":1,"A":[1.5,null]}', id="struct-keeps-order"),
        pytest.param(GoMap({"b": "1", "a": "<&>"}), '{"a":"<&>","b":"1"}', id="map-sorted-no-html-escape"),
        pytest.param(GoSlice(nil=True), "null", id="nil-slice"),
        pytest.param('tab\tquote"\u2028', '"tab\\tquote\\"\\u2028"', id="escapes"),
        pytest.param(1e21, "1e+21", id="huge-float"),
        pytest.param(100000000000000000000.0, "100000000000000000000", id="large-float-fixed"),
    ],
)
def test_go_json_encodes_like_encoding_json(value, encoded) -> None:
    assert gofmt.go_json(value) == encoded


def test_to_go_types_nulls_by_field() -> None:
    value = to_go({"Config": {"Cmd": None, "Labels": None, "Healthcheck": None, "Env": ["A=1"]}})
    assert isinstance(value, GoStruct)
    config = value["Config"]
    assert isinstance(config["Cmd"], GoSlice)
    assert config["Cmd"].nil
    assert isinstance(config["Labels"], GoMap)
    assert config["Labels"].nil
    assert config["Healthcheck"] is None


@pytest.mark.parametrize(
    ("src", "expected"),
    [
        pytest.param('{{printf "%s|%5s|%-4s|" "a" "b" "c"}}', "a|    b|c   |", id="strings"),
        pytest.param('{{printf "%d %03d %x %X %o" 10 7 255 255 8}}', "10 007 ff FF 10", id="ints"),
        pytest.param('{{printf "%.2f %e %g" 3.14159 1000.0 0.5}}', "3.14 1.000000e+03 0.5", id="floats"),
        pytest.param('{{printf "%q %v %t" "x" 1 true}}', '"x" 1 true', id="quote-value-bool"),
        pytest.param('{{printf "%d %s"}}', "%!d(MISSING) %!s(MISSING)", id="missing-args"),
        pytest.param('{{printf "%s" "a" "b"}}', "a%!(EXTRA string=b)", id="extra-args"),
        pytest.param('{{printf "100%%"}}', "100%", id="percent"),
    ],
)
def test_printf_subset(src, expected) -> None:
    assert templates.parse(src).execute(None) == expected
