"""Executing parsed templates with Go's semantics, and the functions templates can call.

This is Go's ``text/template/exec.go`` for the subset :mod:`dockyard.cli.templates` parses.
The points where users notice a difference, and what Go does there:

- A command's first word decides what is called: a field chain (``.A.B``) is evaluated on
  dot and, if it ends in a method, called with the other words as arguments; an identifier is
  a function; anything else given arguments is "can't give argument to non-function".
- The value of each command in a pipeline becomes the *last* argument of the next.
- Truth (``if``, ``with``, ``and``, ``or``, ``not``): false, 0, "", nil and empty slices and
  maps are false; a struct is always true.
- ``and``/``or`` evaluate their arguments lazily and return an argument, not a bool.
- ``range`` over a map visits keys in sorted order; over nothing it runs ``else``.
- A field of a map is its key; docker falls back to a map view of the JSON with
  ``missingkey=error``, so a missing key on a struct is ``map has no entry for key "X"``, while
  a missing key in a Go map (``.Config.Labels.nope``) prints ``<no value>`` and ``index``
  gives the element's zero value, "".
- Comparisons (``eq``, ``lt`` ...) need operands of one basic kind; ``eq`` takes several and
  is true if the first equals any other.

Error messages keep Go's shape: ``template: :1:2: executing "" at <.Foo>: ...``.
"""

from __future__ import annotations

from dockyard.cli import gofmt
from dockyard.cli.gofmt import MISSING, GoMap, GoSlice, GoStruct, TemplateObject, Unprintable, go_type
from dockyard.cli.templates import Node, Template, TemplateError, number

__all__ = ["FUNCS", "HEADER_FUNCS", "execute", "execute_partial"]

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


class FuncError(Exception):
    """Raised by a template function; becomes ``error calling <name>: <message>``."""


class _NoFinal:
    """Marks "no value piped in" (Go's ``missingVal``)."""


_NO_FINAL = _NoFinal()


class _State:
    __slots__ = ("out", "template", "variables")

    def __init__(self, template: Template, data: object) -> None:
        self.template = template
        self.variables: list[tuple[str, object]] = [("$", data)]
        self.out: list[str] = []

    def fail(self, node: Node, message: str) -> TemplateError:
        src = self.template.src
        line = src.count("\n", 0, node.pos) + 1
        column = node.pos - (src.rfind("\n", 0, node.pos) + 1)
        return TemplateError(f'{line}:{column}: executing "" at <{node.text}>: {message}')

    def lookup(self, node: Node, name: str) -> object:
        for var, value in reversed(self.variables):
            if var == name:
                return value
        raise self.fail(node, f"undefined variable: {name}")

    def assign(self, node: Node, name: str, value: object) -> None:
        for i in range(len(self.variables) - 1, -1, -1):
            if self.variables[i][0] == name:
                self.variables[i] = (name, value)
                return
        raise self.fail(node, f"undefined variable: {name}")


def execute(template: Template, data: object) -> str:
    """Render ``template`` with ``data`` as dot.

    Raises:
        TemplateError: Go's execution error.
    """
    state = _State(template, data)
    _walk(state, data, template.nodes)
    return "".join(state.out)


def execute_partial(template: Template, data: object) -> str:
    """Render, keeping whatever was written before an error (docker's table headers do this)."""
    state = _State(template, data)
    try:
        _walk(state, data, template.nodes)
    except TemplateError:
        pass
    return "".join(state.out)


def _walk(state: _State, dot: object, nodes: list[Node]) -> None:
    for node in nodes:
        kind = node.kind
        if kind == "text":
            state.out.append(node.text)
        elif kind == "action":
            pipe = node.parts[0]
            assert isinstance(pipe, Node)
            value = _pipeline(state, dot, pipe)
            if not pipe.parts[0]:  # a declaration prints nothing
                state.out.append(_print(state, pipe, value))
        elif kind in ("if", "with"):
            _branch(state, dot, node)
        elif kind == "range":
            _range(state, dot, node)
        elif kind == "break":
            raise _Break()
        elif kind == "continue":
            raise _Continue()


def _print(state: _State, node: Node, value: object) -> str:
    try:
        return gofmt.go_str(value)
    except Unprintable as exc:
        raise state.fail(node, str(exc)) from None


def _branch(state: _State, dot: object, node: Node) -> None:
    pipe, body, otherwise = node.parts
    assert isinstance(pipe, Node)
    assert isinstance(body, list)
    assert isinstance(otherwise, list)
    mark = len(state.variables)
    value = _pipeline(state, dot, pipe)
    if is_true(value):
        _walk(state, value if node.kind == "with" else dot, body)
    else:
        _walk(state, dot, otherwise)
    del state.variables[mark:]


def _range(state: _State, dot: object, node: Node) -> None:
    pipe, body, otherwise = node.parts
    assert isinstance(pipe, Node)
    assert isinstance(body, list)
    assert isinstance(otherwise, list)
    names, _, commands = pipe.parts
    assert isinstance(names, tuple)
    assert isinstance(commands, list)
    mark = len(state.variables)
    value = _pipeline(state, dot, Node("pipeline", pipe.pos, pipe.text, ((), False, commands)))
    items = _iterate(state, pipe, value)
    for key, element in items:
        if len(names) == 1:
            state.variables.append((names[0], element))
        elif len(names) == 2:
            state.variables += [(names[0], key), (names[1], element)]
        try:
            _walk(state, element, body)
        except _Break:
            break
        except _Continue:
            pass
        finally:
            del state.variables[mark:]
    if not items:
        _walk(state, dot, otherwise)
    del state.variables[mark:]


def _iterate(state: _State, node: Node, value: object) -> list[tuple[object, object]]:
    if isinstance(value, dict) and not isinstance(value, GoStruct):
        return [(k, value[k]) for k in sorted(value, key=str)]
    if isinstance(value, list):
        return list(enumerate(value))
    if isinstance(value, int) and not isinstance(value, bool):
        return [(i, i) for i in range(value)]
    if value is None or value is MISSING:
        return []
    raise state.fail(node, f"range can't iterate over {render_value(value)}")


def render_value(value: object) -> str:
    """A value as Go's error messages show it (``%v``, or its type when unprintable)."""
    try:
        return gofmt.go_str(value)
    except Unprintable:
        return go_type(value)


def _pipeline(state: _State, dot: object, pipe: Node) -> object:
    names, assign, commands = pipe.parts
    assert isinstance(names, tuple)
    assert isinstance(commands, list)
    value: object = _NO_FINAL
    for command in commands:
        value = _command(state, dot, command, value)
    for name in names:
        if assign:
            state.assign(pipe, name, value)
        else:
            state.variables.append((name, value))
    return value


def _command(state: _State, dot: object, cmd: Node, final: object) -> object:
    first = cmd.parts[0]
    args = cmd.parts[1:]
    assert isinstance(first, Node)
    if first.kind == "field":
        return _field_chain(state, dot, first, dot, first.parts, args, final)
    if first.kind == "chain":
        base, names = first.parts
        assert isinstance(base, Node)
        assert isinstance(names, tuple)
        receiver = _arg(state, dot, base)
        return _field_chain(state, dot, first, receiver, names, args, final)
    if first.kind == "ident":
        return _call(state, dot, cmd, first.text, args, final)
    if args or final is not _NO_FINAL:
        raise state.fail(first, f"can't give argument to non-function {first.text}")
    return _arg(state, dot, first)


def _arg(state: _State, dot: object, node: Node) -> object:
    """The value of one operand."""
    kind = node.kind
    if kind == "dot":
        return dot
    if kind == "field":
        return _field_chain(state, dot, node, dot, node.parts, (), _NO_FINAL)
    if kind == "chain":
        base, names = node.parts
        assert isinstance(base, Node)
        assert isinstance(names, tuple)
        return _field_chain(state, dot, node, _arg(state, dot, base), names, (), _NO_FINAL)
    if kind == "var":
        return state.lookup(node, node.text)
    if kind == "paren":
        pipe = node.parts[0]
        assert isinstance(pipe, Node)
        return _pipeline(state, dot, pipe)
    if kind == "ident":
        return _call(state, dot, node, node.text, (), _NO_FINAL)
    if kind == "string":
        return node.text
    if kind == "number":
        return number(node.text)
    if kind == "bool":
        return node.text == "true"
    return None  # nil


# Go field names of docker's API types whose JSON keys are spelled differently. docker runs a
# template on the typed struct first, so both spellings work there (``{{.ID}}``, ``{{.Id}}``).
_JSON_NAMES = {
    "ID": "Id",
    "APIVersion": "ApiVersion",
    "CPUShares": "CpuShares",
    "CPUPeriod": "CpuPeriod",
    "CPUQuota": "CpuQuota",
    "CPURealtimePeriod": "CpuRealtimePeriod",
    "CPURealtimeRuntime": "CpuRealtimeRuntime",
    "CPUCount": "CpuCount",
    "CPUPercent": "CpuPercent",
    "NanoCPUs": "NanoCpus",
    "DNS": "Dns",
    "DNSOptions": "DnsOptions",
    "DNSSearch": "DnsSearch",
    "HTTPProxy": "HttpProxy",
    "HTTPSProxy": "HttpsProxy",
}


def _field_chain(
    state: _State,
    dot: object,
    node: Node,
    receiver: object,
    names: tuple[object, ...],
    args: tuple[object, ...],
    final: object,
) -> object:
    for i, name in enumerate(names):
        assert isinstance(name, str)
        last = i == len(names) - 1
        receiver = _field(
            state, dot, node, receiver, name, args if last else (), final if last else _NO_FINAL
        )
    return receiver


def _field(
    state: _State,
    dot: object,
    node: Node,
    receiver: object,
    name: str,
    args: tuple[object, ...],
    final: object,
) -> object:
    has_args = bool(args) or final is not _NO_FINAL
    # Exported methods first, as Go looks them up before map keys (docker's header map has one).
    method = getattr(type(receiver), name, None) if name[:1].isupper() else None
    if isinstance(receiver, TemplateObject) or callable(method):
        if not callable(method):
            raise state.fail(
                node, f"can't evaluate field {name} in type *formatter.{type(receiver).__name__}"
            )
        method = getattr(receiver, name)
        values = [_arg(state, dot, a) for a in args if isinstance(a, Node)]
        if final is not _NO_FINAL:
            values.append(final)
        try:
            return method(*values)
        except TypeError:
            raise state.fail(node, f"wrong number of args for {name}: got {len(values)}") from None
    if isinstance(receiver, dict):
        if has_args:
            raise state.fail(node, f"{name} is not a method but has arguments")
        if name in receiver:
            return receiver[name]
        if isinstance(receiver, GoStruct) and _JSON_NAMES.get(name) in receiver:
            return receiver[_JSON_NAMES[name]]
        if isinstance(receiver, GoMap):
            return MISSING  # text/template's default for a missing map key: "<no value>"
        raise state.fail(node, f'map has no entry for key "{name}"')
    if receiver is None or receiver is MISSING:
        raise state.fail(node, f"nil pointer evaluating interface {{}}.{name}")
    # Decoded JSON is interface{} to Go (docker's raw-map fallback is what reports the error).
    raise state.fail(node, f"can't evaluate field {name} in type interface {{}}")


def _call(
    state: _State, dot: object, node: Node, name: str, args: tuple[object, ...], final: object
) -> object:
    func = state.template.funcs[name]
    if name in ("and", "or"):
        return _and_or(state, dot, node, name, args, final)
    values = [_arg(state, dot, a) for a in args if isinstance(a, Node)]
    if final is not _NO_FINAL:
        values.append(final)
    try:
        return func(*values)
    except FuncError as exc:
        raise state.fail(node, f"error calling {name}: {exc}") from None
    except Unprintable as exc:
        raise state.fail(node, f"error calling {name}: {exc}") from None
    except TypeError:
        raise state.fail(node, _arity_message(name, func, len(values))) from None


def _arity_message(name: str, func: Callable[..., object], got: int) -> str:
    """Go's "wrong number of args for X: want N got M" for a function called with ``got``."""
    code = getattr(func, "__code__", None)
    if code is None:
        return f"wrong number of args for {name}: got {got}"
    want = code.co_argcount - len(getattr(func, "__defaults__", None) or ())
    if code.co_flags & 0x04:  # CO_VARARGS
        return f"wrong number of args for {name}: want at least {want} got {got}"
    return f"wrong number of args for {name}: want {want} got {got}"


def _and_or(
    state: _State, dot: object, node: Node, name: str, args: tuple[object, ...], final: object
) -> object:
    nodes = [a for a in args if isinstance(a, Node)]
    if len(nodes) + (final is not _NO_FINAL) < 1:
        raise state.fail(node, f"wrong number of args for {name}: want at least 1 got 0")
    value: object = None
    for i in range(len(nodes) + (final is not _NO_FINAL)):
        value = _arg(state, dot, nodes[i]) if i < len(nodes) else final
        if is_true(value) != (name == "and"):
            return value
    return value


def is_true(value: object) -> bool:
    """Go's ``template.IsTrue``: the zero value of a type is false; structs are true."""
    if value is None or value is MISSING:
        return False
    if isinstance(value, GoStruct | TemplateObject):
        return True
    if isinstance(value, bool | int | float | str | list | dict):
        return bool(value)
    return True


# --- functions ------------------------------------------------------------------------------


def _want_str(value: object) -> str:
    if not isinstance(value, str):
        raise FuncError(f"wrong type for value; expected string; got {go_type(value)}")
    return value


def _want_int(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise FuncError(f"wrong type for value; expected int; got {go_type(value)}")
    return value


def _len(value: object) -> int:
    if isinstance(value, str):
        return len(value.encode())
    if isinstance(value, list | dict) and not isinstance(value, GoStruct):
        return len(value)
    raise FuncError(f"len of type {go_type(value)}")


def _index(item: object, *keys: object) -> object:
    for key in keys:
        if isinstance(item, list | str):
            if not isinstance(key, int) or isinstance(key, bool):
                raise FuncError(f"cannot index slice/array with type {go_type(key)}")
            if not 0 <= key < len(item):
                raise FuncError(f"index out of range: {key}")
            item = item[key] if isinstance(item, list) else item.encode()[key]
        elif isinstance(item, dict):
            # A Go map gives its element's zero value; docker's raw-map fallback gives nil.
            item = item.get(key, item.zero if isinstance(item, GoMap) else None)
        elif item is None:
            raise FuncError("index of untyped nil")
        else:
            raise FuncError(f"can't index item of type {go_type(item)}")
    return item


def _slice(item: object, *bounds: object) -> object:
    if not isinstance(item, list | str):
        raise FuncError(f"can't slice item of type {go_type(item)}")
    indexes = [_want_int(b) for b in bounds]
    seq = item.encode() if isinstance(item, str) else item
    start = indexes[0] if indexes else 0
    stop = indexes[1] if len(indexes) > 1 else len(seq)
    if not 0 <= start <= stop <= len(seq):
        raise FuncError(f"index out of range: {stop if stop > len(seq) else start}")
    if isinstance(seq, bytes):
        return seq[start:stop].decode("utf-8", "replace")
    return GoSlice(seq[start:stop])


def _sprint(*values: object) -> str:
    # fmt.Sprint adds a space between operands when neither is a string.
    out: list[str] = []
    for i, value in enumerate(values):
        if i and not isinstance(value, str) and not isinstance(values[i - 1], str):
            out.append(" ")
        out.append(gofmt.go_str(value))
    return "".join(out)


def _sprintln(*values: object) -> str:
    return " ".join(gofmt.go_str(v) for v in values) + "\n"


def _basic(value: object) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if value is None or value is MISSING:
        raise FuncError("invalid type for comparison")
    raise FuncError("non-comparable type")


def _is_nil(value: object) -> bool:
    return value is None or value is MISSING or (isinstance(value, GoMap | GoSlice) and value.nil)


def _eq(first: object, *others: object) -> bool:
    if not others:
        raise FuncError("missing argument for comparison")
    for other in others:
        if first is None or other is None or first is MISSING or other is MISSING:
            # Go compares with nil without complaint: equal only when both are nil.
            if _is_nil(first) == _is_nil(other):
                return True
            continue
        if _basic(other) != _basic(first):
            raise FuncError("incompatible types for comparison")
        if first == other:
            return True
    return False


def _ne(a: object, b: object) -> bool:
    return not _eq(a, b)


def _ordered(a: object, b: object) -> tuple[object, object]:
    kind = _basic(a)
    if kind == "bool":
        raise FuncError("invalid type for comparison")
    if _basic(b) != kind:
        raise FuncError("incompatible types for comparison")
    return a, b


def _lt(a: object, b: object) -> bool:
    x, y = _ordered(a, b)
    return bool(x < y)  # type: ignore[operator]


def _le(a: object, b: object) -> bool:
    return _lt(a, b) or _eq(a, b)


def _title(text: object) -> str:
    # strings.Title: upper-case each letter that follows a separator (not a letter, digit or _).
    out = []
    previous = " "
    for ch in _want_str(text):
        separator = not (previous.isalnum() or previous == "_")
        out.append(ch.upper() if separator else ch)
        previous = ch
    return "".join(out)


def _split(text: object, sep: object) -> GoSlice:
    source, separator = _want_str(text), _want_str(sep)
    if not separator:
        return GoSlice(list(source))
    return GoSlice(source.split(separator))


def _join(items: object, sep: object) -> str:
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise FuncError(f"wrong type for value; expected []string; got {go_type(items)}")
    return _want_str(sep).join(items)


def _pad(text: object, prefix: object, suffix: object) -> str:
    source = _want_str(text)
    if not source:
        return source
    return " " * _want_int(prefix) + source + " " * _want_int(suffix)


def _truncate(text: object, length: object) -> str:
    source, limit = _want_str(text), _want_int(length)
    raw = source.encode()
    return source if len(raw) < limit else raw[:limit].decode("utf-8", "replace")


def _json(value: object) -> str:
    return gofmt.go_json(value)


def _printf(fmt: object, *args: object) -> str:
    return gofmt.sprintf(_want_str(fmt), args)


FUNCS: dict[str, Callable[..., object]] = {
    "and": lambda *a: a[-1],
    "or": lambda *a: a[-1],
    "not": lambda v: not is_true(v),
    "len": _len,
    "index": _index,
    "slice": _slice,
    "print": _sprint,
    "println": _sprintln,
    "printf": _printf,
    "eq": _eq,
    "ne": _ne,
    "lt": _lt,
    "le": _le,
    "gt": lambda a, b: not _le(a, b),
    "ge": lambda a, b: not _lt(a, b),
    "json": _json,
    "split": _split,
    "join": _join,
    "title": _title,
    "lower": lambda s: _want_str(s).lower(),
    "upper": lambda s: _want_str(s).upper(),
    "pad": _pad,
    "truncate": _truncate,
}


def _keep(value: object, *_ignored: object) -> object:
    return value


# docker's templates.HeaderFunctions: table headers print column names unchanged.
HEADER_FUNCS: dict[str, Callable[..., object]] = {
    name: _keep for name in ("json", "split", "join", "title", "lower", "upper", "truncate")
}
