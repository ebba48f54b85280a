"""
The wire inspector behind C{python -m pbfast decode}: a Banana capture --
one or many expressions back to back, bytes saved from a PB connection (see
L{pbfast.capture}) or C{pbfast.dumps} output -- read into what a PB user needs
to see when a peer sent something wrong: each expression's stream offset and,
for PB traffic, the message it is (a call with its request id, object id and
method, an answer, an error, a reference released...), the jellied parts as
objects where C{globalSecurity} allows them and as s-expressions where not;
everything up to a fault, then the fault and where it is.

Both dialects are read at once: VOCAB tokens (dialect C{pb}) stand for their
vocabulary symbols, and C{dumps} output has none.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from pbfast import _native, banana, jelly

INCOMING = {ident: symbol for ident, symbol in enumerate(_native.PB_VOCABULARY) if ident}
"""The symbols VOCAB tokens stand for in dialect C{pb}, by number."""

MESSAGES = {
    b"message": ("request", "object", "method", "answerRequired", "args", "kwargs"),
    b"cachemessage": ("request", "object", "method", "answerRequired", "args", "kwargs"),
    b"answer": ("request", "result"),
    b"error": ("request", "failure"),
    b"decref": ("object",),
    b"decache": ("object",),
    b"uncache": ("object",),
    b"version": ("version",),
    b"didNotUnderstand": ("command",),
}
"""PB's messages: the names of the items after the message name."""

JELLIED = {"args", "kwargs", "result", "failure"}
"""The items that are jelly (shown as objects where allowed)."""


@dataclass
class Expression:
    """One whole expression of the capture, and what it is."""

    offset: int
    length: int
    sexp: Any
    kind: str
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass
class Capture:
    """What a capture holds: its expressions, then the fault if any."""

    expressions: list[Expression]
    error: banana.BananaError | None
    leftover: int
    """Bytes at the end that do not complete an expression."""
    size: int

    @property
    def complete(self) -> bool:
        return self.error is None and self.leftover == 0


class Jellied:
    """A jellied part: the object it makes, or why not and its s-expression."""

    def __init__(self, sexp: Any) -> None:
        self.sexp = sexp
        self.refused: str | None = None
        try:
            self.object: Any = jelly.unjelly(sexp, taster=jelly.globalSecurity)
        except jelly.InsecureJelly as error:
            self.object = None
            self.refused = str(error)


def read(data: bytes) -> Capture:
    """Every expression of C{data}, up to the first fault."""
    decoder = _native.Decoder(INCOMING)
    decoder.feed(data)
    expressions: list[Expression] = []
    error = None
    while True:
        start = decoder.offset
        try:
            sexp = decoder.next(
                True,
                banana._PREFIX_LIMIT,
                banana.SIZE_LIMIT,
                banana.MAX_DEPTH,
                banana.MAX_MESSAGE_SIZE,
            )
        except banana.BananaError as failure:
            error = failure
            break
        if sexp is None:
            break
        expressions.append(describe(start, decoder.offset - start, sexp, len(expressions)))
    # The decoder holds a partly received expression as state, not as
    # pending bytes: what is left over runs from where it began to the end.
    leftover = 0 if error is not None or decoder.idle else len(data) - start
    return Capture(expressions, error, leftover, len(data))


def describe(offset: int, length: int, sexp: Any, index: int) -> Expression:
    """What the expression at C{offset} is."""
    if (
        index == 0
        and isinstance(sexp, list)
        and sexp
        and all(isinstance(item, bytes) for item in sexp)
    ):
        return Expression(offset, length, sexp, "dialects", {"offered": sexp})
    if index == 0 and sexp in (b"pb", b"none"):
        return Expression(offset, length, sexp, "dialect", {"chosen": sexp})
    if isinstance(sexp, list) and sexp and isinstance(sexp[0], bytes) and sexp[0] in MESSAGES:
        names = MESSAGES[sexp[0]]
        if len(sexp) == len(names) + 1:
            fields = {
                name: Jellied(value) if name in JELLIED else value
                for name, value in zip(names, sexp[1:], strict=True)
            }
            return Expression(offset, length, sexp, sexp[0].decode(), fields)
    return Expression(offset, length, sexp, "jelly", {"value": Jellied(sexp)})


def as_text(value: Any) -> str:
    """A field of a message, readably: ASCII bytes as text, anything else as its repr."""
    if isinstance(value, bytes):
        try:
            return value.decode("ascii")
        except UnicodeDecodeError:
            return repr(value)
    return repr(value)


def jellied_text(part: Jellied) -> str:
    """A jellied part, readably: the object it makes, or its s-expression and why not."""
    if part.refused is None:
        return repr(part.object)
    return f"{part.sexp!r}  (not made: {part.refused})"


def lines(capture: Capture) -> Iterator[str]:
    """The capture, readably."""
    for expression in capture.expressions:
        head = f"@{expression.offset:<8}"
        fields = expression.fields
        kind = expression.kind
        if kind == "dialects":
            yield head + "dialects offered: " + ", ".join(as_text(d) for d in fields["offered"])
        elif kind == "dialect":
            yield head + "dialect chosen: " + as_text(fields["chosen"])
        elif kind in ("message", "cachemessage"):
            answer = "answer wanted" if fields["answerRequired"] else "no answer"
            target = "cached object" if kind == "cachemessage" else "object"
            yield (
                f"{head}{kind} #{fields['request']}: {target} {as_text(fields['object'])}, "
                f"method {as_text(fields['method'])} ({answer})"
            )
            yield f"{'':9}  args:   {jellied_text(fields['args'])}"
            yield f"{'':9}  kwargs: {jellied_text(fields['kwargs'])}"
        elif kind == "answer":
            yield f"{head}answer #{fields['request']}: {jellied_text(fields['result'])}"
        elif kind == "error":
            yield f"{head}error #{fields['request']}: {jellied_text(fields['failure'])}"
        elif kind == "jelly":
            yield head + jellied_text(fields["value"])
        else:
            rest = ", ".join(f"{name} {as_text(value)}" for name, value in fields.items())
            yield f"{head}{kind}: {rest}"
    if capture.error is not None:
        yield f"ERROR at offset {error_offset(capture.error)}: {capture.error}"
    elif capture.leftover:
        start = capture.size - capture.leftover
        yield (
            f"ERROR at offset {start}: the last {capture.leftover} bytes do not complete "
            "an expression (a capture cut short?)"
        )


def error_offset(error: banana.BananaError) -> int:
    """The stream offset the native decoder gives its errors."""
    offset: int = getattr(error, "offset", 0)
    return offset


def jsonable(value: Any) -> Any:
    """An s-expression in JSON's terms: bytes as text (or base64), floats as floats."""
    if isinstance(value, list):
        return [jsonable(item) for item in value]
    if isinstance(value, bytes):
        try:
            return {"bytes": value.decode("utf-8")}
        except UnicodeDecodeError:
            return {"base64": base64.b64encode(value).decode("ascii")}
    if isinstance(value, float) and not math.isfinite(value):
        return {"float": repr(value)}
    return value


def json_field(value: Any) -> Any:
    """A field of an expression in JSON's terms (a jellied part: its s-expression and object)."""
    if isinstance(value, Jellied):
        part: dict[str, Any] = {"sexp": jsonable(value.sexp)}
        if value.refused is None:
            part["object"] = repr(value.object)
        else:
            part["refused"] = value.refused
        return part
    return jsonable(value)


def as_json(capture: Capture) -> dict[str, Any]:
    """The capture for machines."""
    error = None
    if capture.error is not None:
        error = {
            "offset": error_offset(capture.error),
            "type": type(capture.error).__name__,
            "message": str(capture.error),
        }
    elif capture.leftover:
        error = {
            "offset": capture.size - capture.leftover,
            "type": "Truncated",
            "message": f"the last {capture.leftover} bytes do not complete an expression",
        }
    return {
        "expressions": [
            {
                "offset": expression.offset,
                "length": expression.length,
                "kind": expression.kind,
                **{name: json_field(value) for name, value in expression.fields.items()},
            }
            for expression in capture.expressions
        ],
        "error": error,
    }
