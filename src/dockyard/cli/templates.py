"""A subset of Go's text/template, for ``--format`` and ``inspect -f``: the lexer and parser.

Users paste ``--format`` strings from docker's documentation and from years of scripts, so the
subset must answer exactly as docker does or refuse clearly; it must never print something
docker would not. It covers what those strings use: text and actions with ``{{-``/``-}}`` trim
markers and comments; pipelines (``{{.Names | upper}}``) and parenthesised sub-pipelines;
fields on objects and maps (``{{.Config.Cmd}}``, ``{{.Config.Labels.maintainer}}``), methods
with arguments (``{{.Label "com.x"}}``), variables (``$``, ``$v :=``, ``$v =``); ``if``/
``else if``/``else``, ``range`` (with ``$i, $e :=``, ``else``, ``break``, ``continue``) and
``with``; Go's builtins and docker's own functions (see :mod:`dockyard.cli.template_exec`).
``define``, ``template`` and ``block`` (named templates), and the ``call``, ``html``, ``js``
and ``urlquery`` functions, are refused with an error naming them.

The grammar is Go's (``text/template/parse``): an action holds a pipeline, optionally
declaring variables; a pipeline is commands joined by ``|``, each command's value passed as
the last argument of the next; a command is operands separated by spaces, the first naming
what to call. A field directly after a term with no space between (``$v.Name``,
``(index . 0).Name``) continues that term; after a space it is a new operand.

Errors read as Go's, prefixed as docker prefixes them: ``template parsing error: template:
:1: function "foo" not defined``.
"""

from __future__ import annotations

from dockyard.errors import InvalidArgument

__all__ = ["Node", "Template", "TemplateError", "parse"]

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable


class TemplateError(InvalidArgument):
    """A template that does not parse, or that fails while executing; docker's wording."""

    def __init__(self, detail: str) -> None:
        super().__init__(f"template parsing error: template: :{detail}")


# --- lexer ----------------------------------------------------------------------------------

TEXT, FIELD, DOT, VAR, IDENT, STRING, NUMBER, BOOL, NIL, PIPE, LPAREN, RPAREN = range(12)
DECLARE, ASSIGN, COMMA, KEYWORD, END_ACTION = range(12, 17)
KEYWORDS = frozenset(
    {"if", "else", "end", "range", "with", "define", "template", "block", "break", "continue"}
)
_SPACE = " \t\r\n"


class Token:
    """One lexeme; ``joined`` is true when no space separates it from the previous one."""

    __slots__ = ("joined", "kind", "pos", "value")

    def __init__(self, kind: int, value: str, pos: int, joined: bool = False) -> None:
        self.kind, self.value, self.pos, self.joined = kind, value, pos, joined


def _line(src: str, pos: int) -> str:
    return str(src.count("\n", 0, pos) + 1)


def _trim_marker(src: str, at: int) -> bool:
    """``-`` followed by a space: Go's trim marker (``{{-3}}`` is the number -3 instead)."""
    return src.startswith("-", at) and at + 1 < len(src) and src[at + 1] in _SPACE


def _lex(src: str) -> list[Token]:
    tokens: list[Token] = []
    i = 0
    trim_next = False
    while i <= len(src):
        start = src.find("{{", i)
        text = src[i : len(src) if start < 0 else start]
        if trim_next:
            text = text.lstrip(_SPACE)
        if start >= 0 and _trim_marker(src, start + 2):
            text = text.rstrip(_SPACE)
        if text:
            tokens.append(Token(TEXT, text, i))
        if start < 0:
            break
        i, trim_next = _lex_action(src, start, tokens)
    return tokens


def _lex_action(src: str, start: int, tokens: list[Token]) -> tuple[int, bool]:
    i = start + 2
    if _trim_marker(src, i):
        i += 2
    if src.startswith("/*", i):
        return _lex_comment(src, start, i)
    joined = False
    while True:
        spaced = i
        while i < len(src) and src[i] in _SPACE:
            i += 1
        joined = i == spaced and joined
        if i >= len(src):
            raise TemplateError(f"{_line(src, start)}: unclosed action")
        if src.startswith("-}}", i) and src[i - 1] in _SPACE:
            tokens.append(Token(END_ACTION, "}}", i))
            return i + 3, True
        if src.startswith("}}", i):
            tokens.append(Token(END_ACTION, "}}", i))
            return i + 2, False
        i = _lex_token(src, i, tokens, joined)
        joined = True


def _lex_comment(src: str, start: int, i: int) -> tuple[int, bool]:
    close = src.find("*/", i + 2)
    if close < 0:
        raise TemplateError(f"{_line(src, start)}: unclosed comment")
    j = close + 2
    if src.startswith(" -}}", j):
        return j + 4, True
    if src.startswith("}}", j):
        return j + 2, False
    raise TemplateError(f"{_line(src, start)}: comment ends before closing delimiter")


_SINGLE = {"|": PIPE, "(": LPAREN, ")": RPAREN, ",": COMMA}


def _lex_token(src: str, i: int, tokens: list[Token], joined: bool) -> int:
    ch = src[i]
    nxt = src[i + 1] if i + 1 < len(src) else ""
    if ch in _SINGLE:
        tokens.append(Token(_SINGLE[ch], ch, i, joined))
        return i + 1
    if src.startswith(":=", i):
        tokens.append(Token(DECLARE, ":=", i, joined))
        return i + 2
    if ch == "=":
        tokens.append(Token(ASSIGN, "=", i, joined))
        return i + 1
    if ch == '"':
        return _lex_quoted(src, i, tokens, joined)
    if ch == "`":
        close = src.find("`", i + 1)
        if close < 0:
            raise TemplateError(f"{_line(src, i)}: unterminated raw quoted string")
        tokens.append(Token(STRING, src[i + 1 : close], i, joined))
        return close + 1
    if ch == "'":
        return _lex_char(src, i, tokens, joined)
    if ch.isdigit() or (ch in "+-." and (nxt.isdigit() or (ch != "." and nxt == "."))):
        return _lex_number(src, i, tokens, joined)
    if ch == "$":
        j = _word_end(src, i + 1)
        tokens.append(Token(VAR, src[i:j], i, joined))
        return j
    if ch == ".":
        if nxt.isalpha() or nxt == "_":
            j = _word_end(src, i + 1)
            tokens.append(Token(FIELD, src[i + 1 : j], i, joined))
            return j
        tokens.append(Token(DOT, ".", i, joined))
        return i + 1
    if ch.isalpha() or ch == "_":
        j = _word_end(src, i)
        word = src[i:j]
        kind = (
            KEYWORD
            if word in KEYWORDS
            else BOOL
            if word in ("true", "false")
            else NIL
            if word == "nil"
            else IDENT
        )
        tokens.append(Token(kind, word, i, joined))
        return j
    raise TemplateError(f"{_line(src, i)}: unexpected {_go_quote_rune(ch)} in command")


def _go_quote_rune(ch: str) -> str:
    return "'\\''" if ch == "'" else f"'{ch}'"


def _word_end(src: str, i: int) -> int:
    while i < len(src) and (src[i].isalnum() or src[i] == "_"):
        i += 1
    return i


_ESCAPES = {
    "n": "\n",
    "t": "\t",
    "r": "\r",
    "\\": "\\",
    '"': '"',
    "'": "'",
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "v": "\v",
}
_HEX_WIDTH = {"x": 2, "u": 4, "U": 8}


def _unescape(src: str, j: int, at: int) -> tuple[str, int]:
    """One Go escape sequence starting at the backslash ``src[j]``; returns (char, next index)."""
    esc = src[j + 1] if j + 1 < len(src) else ""
    if esc in _HEX_WIDTH:
        digits = src[j + 2 : j + 2 + _HEX_WIDTH[esc]]
        try:
            return chr(int(digits, 16)), j + 2 + len(digits)
        except ValueError:
            pass
    elif esc in _ESCAPES:
        return _ESCAPES[esc], j + 2
    elif esc.isdigit():
        digits = src[j + 1 : j + 4]
        if len(digits) == 3 and all(c in "01234567" for c in digits):
            return chr(int(digits, 8)), j + 4
    raise TemplateError(f"{_line(src, at)}: invalid syntax")


def _lex_quoted(src: str, i: int, tokens: list[Token], joined: bool) -> int:
    out = []
    j = i + 1
    while j < len(src) and src[j] not in '"\n':
        if src[j] == "\\":
            char, j = _unescape(src, j, i)
            out.append(char)
            continue
        out.append(src[j])
        j += 1
    if j >= len(src) or src[j] != '"':
        raise TemplateError(f"{_line(src, i)}: unterminated quoted string")
    tokens.append(Token(STRING, "".join(out), i, joined))
    return j + 1


def _lex_char(src: str, i: int, tokens: list[Token], joined: bool) -> int:
    if src[i + 1 : i + 2] == "\\":
        char, j = _unescape(src, i + 1, i)
    else:
        char, j = src[i + 1 : i + 2], i + 2
    if not char or src[j : j + 1] != "'":
        raise TemplateError(f"{_line(src, i)}: unterminated character constant")
    tokens.append(Token(NUMBER, str(ord(char)), i, joined))
    return j + 1


def _lex_number(src: str, i: int, tokens: list[Token], joined: bool) -> int:
    j = i + 1
    while j < len(src) and (src[j].isalnum() or src[j] in "._" or (src[j] in "+-" and src[j - 1] in "eEpP")):
        j += 1
    text = src[i:j]
    try:
        number(text)
    except ValueError:
        raise TemplateError(f"{_line(src, i)}: bad number syntax: {text!r}") from None
    tokens.append(Token(NUMBER, text, i, joined))
    return j


def number(text: str) -> int | float:
    """A Go number literal's value: ints (decimal, 0x, 0o, 0b) stay ints, the rest are floats.

    Raises:
        ValueError: not a number.
    """
    clean = text.replace("_", "")
    try:
        return int(clean, 0)
    except ValueError:
        return float(clean)


# --- parser ---------------------------------------------------------------------------------


class Node:
    """A parse-tree node: ``kind`` names it, ``text`` is its source, ``parts`` its children.

    Kinds: text, action, if, with, range, break, continue, pipeline, command, field, chain,
    paren, dot, var, ident, string, number, bool, nil.
    """

    __slots__ = ("kind", "parts", "pos", "text")

    def __init__(self, kind: str, pos: int, text: str = "", parts: tuple[object, ...] = ()) -> None:
        self.kind, self.pos, self.text, self.parts = kind, pos, text, parts


_TERMS = {
    DOT: "dot",
    VAR: "var",
    IDENT: "ident",
    STRING: "string",
    NUMBER: "number",
    BOOL: "bool",
    NIL: "nil",
}


class _Parser:
    def __init__(self, src: str, tokens: list[Token]) -> None:
        self.src, self.tokens, self.i = src, tokens, 0
        self.range_depth = 0

    def peek(self) -> Token | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def next(self) -> Token:
        token = self.peek()
        if token is None:
            raise TemplateError(f"{_line(self.src, len(self.src))}: unexpected EOF")
        self.i += 1
        return token

    def fail(self, token: Token, message: str) -> TemplateError:
        return TemplateError(f"{_line(self.src, token.pos)}: {message}")

    def parse_list(self, stops: frozenset[str]) -> tuple[list[Node], str]:
        """Nodes until an action opening with a keyword in ``stops``; returns that keyword."""
        nodes: list[Node] = []
        while (token := self.peek()) is not None:
            if token.kind == TEXT:
                nodes.append(Node("text", token.pos, token.value))
                self.i += 1
                continue
            if token.kind == KEYWORD and token.value in stops:
                self.i += 1
                return nodes, token.value
            nodes.append(self.parse_action())
        if stops:
            raise TemplateError(f"{_line(self.src, len(self.src))}: unexpected EOF")
        return nodes, ""

    def parse_action(self) -> Node:
        token = self.next()
        if token.kind == KEYWORD:
            return self.parse_control(token)
        self.i -= 1
        pipe = self.parse_pipeline(token, decl_ok=True)
        self.expect_end()
        return Node("action", token.pos, parts=(pipe,))

    def expect_end(self) -> None:
        token = self.next()
        if token.kind != END_ACTION:
            raise self.fail(token, f"unexpected {token.value!r} in command")

    def parse_control(self, token: Token) -> Node:
        word = token.value
        if word in ("if", "with", "range"):
            return self.parse_branch(word, token)
        if word in ("break", "continue"):
            if not self.range_depth:
                raise self.fail(token, f"{{{{{word}}}}} outside {{{{range}}}}")
            self.expect_end()
            return Node(word, token.pos)
        if word in ("end", "else"):
            raise self.fail(token, f"unexpected {{{{{word}}}}}")
        raise self.fail(token, f"{{{{{word}}}}} is not supported by dockyard's template subset")

    def parse_branch(self, word: str, token: Token) -> Node:
        pipe = self.parse_pipeline(token, decl_ok=True, range_decl=word == "range", context=word)
        self.expect_end()
        self.range_depth += word == "range"
        body, stop = self.parse_list(frozenset({"end", "else"}))
        self.range_depth -= word == "range"
        otherwise: list[Node] = []
        if stop == "else":
            nxt = self.peek()
            if nxt is not None and nxt.kind == KEYWORD and nxt.value in ("if", "with") and word != "range":
                # "{{else if x}}" is an else branch holding one nested if that shares our {{end}}.
                self.i += 1
                otherwise = [self.parse_branch(nxt.value, nxt)]
                return Node(word, token.pos, parts=(pipe, body, otherwise))
            self.expect_end()
            otherwise, _ = self.parse_list(frozenset({"end"}))
        self.expect_end()
        return Node(word, token.pos, parts=(pipe, body, otherwise))

    def parse_pipeline(
        self, at: Token, *, decl_ok: bool = False, range_decl: bool = False, context: str = "command"
    ) -> Node:
        decls, assign = self.parse_decls(range_decl) if decl_ok else ([], False)
        commands: list[Node] = []
        while True:
            command = self.parse_command()
            if not command.parts:
                raise self.fail(self.peek() or at, f"missing value for {context}")
            commands.append(command)
            token = self.peek()
            if token is None or token.kind != PIPE:
                break
            self.i += 1
        text = " | ".join(c.text for c in commands)
        return Node("pipeline", commands[0].pos, text, (tuple(decls), assign, commands))

    def parse_decls(self, range_decl: bool) -> tuple[list[str], bool]:
        start = self.i
        names: list[str] = []
        while (token := self.peek()) is not None and token.kind == VAR:
            names.append(token.value)
            self.i += 1
            nxt = self.peek()
            if nxt is not None and nxt.kind == COMMA and range_decl and len(names) == 1:
                self.i += 1
                continue
            if nxt is not None and nxt.kind in (DECLARE, ASSIGN):
                self.i += 1
                return names, nxt.kind == ASSIGN
            break
        self.i = start
        return [], False

    def parse_command(self) -> Node:
        operands: list[Node] = []
        start = self.peek()
        while (token := self.peek()) is not None and token.kind not in (PIPE, RPAREN, END_ACTION):
            operands.append(self.parse_operand())
        pos = start.pos if start is not None else len(self.src)
        end = self.peek().pos if self.peek() is not None else len(self.src)  # type: ignore[union-attr]
        return Node("command", pos, self.src[pos:end].strip(), tuple(operands))

    def parse_operand(self) -> Node:
        token = self.next()
        node = self.parse_term(token)
        fields: list[str] = []
        while (nxt := self.peek()) is not None and nxt.kind == FIELD and nxt.joined:
            fields.append(nxt.value)
            self.i += 1
        if not fields:
            return node
        if node.kind in ("string", "number", "bool", "nil", "dot"):
            raise self.fail(token, f"unexpected . after term {node.text!r}")
        return Node("chain", token.pos, node.text + "".join("." + f for f in fields), (node, tuple(fields)))

    def parse_term(self, token: Token) -> Node:
        if token.kind == FIELD:
            names = [token.value]
            pos = token.pos
            while (nxt := self.peek()) is not None and nxt.kind == FIELD and nxt.joined:
                if len(names) == 1:
                    pos = nxt.pos  # Go positions a field chain at its second field
                names.append(nxt.value)
                self.i += 1
            return Node("field", pos, "." + ".".join(names), tuple(names))
        if token.kind == LPAREN:
            pipe = self.parse_pipeline(token)
            close = self.next()
            if close.kind != RPAREN:
                raise self.fail(close, "unclosed left paren")
            return Node("paren", token.pos, self.src[token.pos : close.pos + 1], (pipe,))
        kind = _TERMS.get(token.kind)
        if kind is None:
            raise self.fail(token, f"unexpected {token.value!r} in operand")
        return Node(kind, token.pos, token.value)


class Template:
    """A parsed template; ``execute(data)`` renders it."""

    def __init__(self, src: str, nodes: list[Node], funcs: dict[str, Callable[..., object]]) -> None:
        self.src = src
        self.nodes = nodes
        self.funcs = funcs

    def execute(self, data: object) -> str:
        """Render with ``data`` as dot and as ``$``.

        Raises:
            TemplateError: an execution error, worded as Go's.
        """
        from dockyard.cli import template_exec

        return template_exec.execute(self, data)


_UNSUPPORTED_FUNCS = frozenset({"call", "html", "js", "urlquery"})


def parse(src: str, funcs: dict[str, Callable[..., object]] | None = None) -> Template:
    """Parse ``src``; ``funcs`` replaces functions by name (docker's table-header functions).

    Raises:
        TemplateError: a syntax error, an unsupported construct, or an unknown function.
    """
    from dockyard.cli import template_exec

    table = dict(template_exec.FUNCS)
    if funcs:
        table.update(funcs)
    nodes, _ = _Parser(src, _lex(src)).parse_list(frozenset())
    _check_functions(src, nodes, table)
    return Template(src, nodes, table)


def _check_functions(src: str, nodes: list[Node], funcs: dict[str, Callable[..., object]]) -> None:
    """Go resolves function names at parse time; an unknown name fails before any output."""
    stack: list[object] = list(nodes)
    while stack:
        item = stack.pop()
        if isinstance(item, Node):
            if item.kind == "ident" and item.text not in funcs:
                if item.text in _UNSUPPORTED_FUNCS:
                    message = f'function "{item.text}" is not supported by dockyard\'s template subset'
                else:
                    message = f'function "{item.text}" not defined'
                raise TemplateError(f"{_line(src, item.pos)}: {message}")
            stack.extend(item.parts)
        elif isinstance(item, list | tuple):
            stack.extend(item)
