"""Readable symbolic dimensions for labels (a neutral helper: layout and reports use it).

Exporters write symbolic sizes as the expressions their shape arithmetic produced: after three
stride-2 layers torch.export says ``floor(floor(floor(height/2 - 1/2)/2)/2)``. A box has room
for ``height/8``, which is how people read that size. :func:`readable_dim` turns such an
expression into that short form: it parses ``+ - * / //``, ``floor``/``ceil`` (and the
``FloorDiv``/``CeilDiv``/``*ToInt`` spellings of torch's printer), reads rounding as exact
division and drops the sub-unit offsets rounding leaves behind. The label is the conventional
reading of the size, not the exact expression: the exact one stays in the tensor's shape
(JSON, summary, the viewer's details).

Anything the parser does not understand (``Max``, ``Mod``, a comparison) is shown as written.
"""

from __future__ import annotations

import functools
import re
from fractions import Fraction

# Functions that round: read as identity (the value is within one unit of its argument).
_ROUNDING = {"floor", "ceil", "floortoint", "ceiltoint", "round", "trunc", "int", "truncToInt",
             "roundtoint", "inttruediv", "float", "tofloat"}
_DIVS = {"floordiv", "ceildiv", "cleandiv", "inttruediv", "floatrueddiv", "floattruediv"}
_TOKEN = re.compile(r"\s*(?:(\d+\.\d+|\d+)|([A-Za-z_][A-Za-z_0-9]*)|(//|\*\*|[-+*/(),]))")

# A polynomial: monomial (sorted tuple of symbols, () for the constant) -> coefficient.
Linear = dict[tuple[str, ...], Fraction]


class _Unsupported(Exception):
    pass


@functools.lru_cache(maxsize=4096)
def readable_dim(text: str) -> str:
    """``floor(floor(height/2 - 1/2)/2)`` -> ``height/4``; ``s0 + s1`` stays; anything not
    understood is returned unchanged."""
    if not isinstance(text, str) or not any(c in text for c in "(+-*/"):
        return text
    try:
        parser = _Parser(text)
        form, rounded = parser.parse()
    except (_Unsupported, ZeroDivisionError, IndexError, ValueError):
        return text
    out = _show(form, rounded)
    # Never longer than what the exporter wrote: then the original is the better label.
    return out if out and len(out) <= len(text) else text


def _show(form: Linear, rounded: bool) -> str:
    const = form.get((), Fraction(0))
    if rounded:
        # The offsets floor/ceil leave behind (-1/2, +1/4 ...) are what the reading drops.
        const = Fraction(int(const))
    terms = []
    for mono in sorted((m for m in form if m), key=lambda m: (-len(m), m)):
        c = form[mono]
        sym = "*".join(mono)
        if c == 0:
            continue
        mag = abs(c)
        if mag.denominator == 1:
            body = sym if mag == 1 else f"{mag.numerator}*{sym}"
        elif mag.numerator == 1:
            body = f"{sym}/{mag.denominator}"
        else:
            body = f"{mag.numerator}*{sym}/{mag.denominator}"
        terms.append(("-" if c < 0 else "+", body))
    if not terms:
        return str(const.numerator) if const.denominator == 1 else ""
    if const.denominator != 1:
        return ""  # a fractional size of an exact expression: leave the text as it was
    if const:
        terms.append(("-" if const < 0 else "+", str(abs(const.numerator))))
    sign, first = terms[0]
    out = ("-" if sign == "-" else "") + first
    for sign, body in terms[1:]:
        out += f" {sign} {body}"
    return out


class _Parser:
    """Recursive descent over + - * / // and function calls, into polynomials."""

    def __init__(self, text: str):
        self.tokens: list[str] = []
        pos = 0
        text = text.strip()
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if not m or m.end() == pos:
                raise _Unsupported(text)
            self.tokens.append(m.group(1) or m.group(2) or m.group(3))
            pos = m.end()
        self.i = 0
        self.rounded = False

    def parse(self) -> tuple[Linear, bool]:
        form = self._sum()
        if self.i != len(self.tokens):
            raise _Unsupported("trailing tokens")
        return form, self.rounded

    def _peek(self) -> str | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def _take(self, expected: str | None = None) -> str:
        tok = self.tokens[self.i]
        if expected is not None and tok != expected:
            raise _Unsupported(f"expected {expected}")
        self.i += 1
        return tok

    def _sum(self) -> Linear:
        form = self._product()
        while self._peek() in ("+", "-"):
            op = self._take()
            rhs = self._product()
            form = _add(form, rhs, -1 if op == "-" else 1)
        return form

    def _product(self) -> Linear:
        form = self._unary()
        while self._peek() in ("*", "/", "//"):
            op = self._take()
            rhs = self._unary()
            if op == "*":
                form = _mul(form, rhs)
            else:
                if op == "//":
                    self.rounded = True
                form = _div(form, rhs)
        return form

    def _unary(self) -> Linear:
        if self._peek() == "-":
            self._take()
            return _scale(self._unary(), Fraction(-1))
        if self._peek() == "+":
            self._take()
            return self._unary()
        return self._atom()

    def _atom(self) -> Linear:
        tok = self._take()
        if tok == "(":
            form = self._sum()
            self._take(")")
            return form
        if tok[0].isdigit():
            return {(): Fraction(tok)}
        if tok[0].isalpha() or tok[0] == "_":
            if self._peek() == "(":
                return self._call(tok)
            return {(tok,): Fraction(1)}
        raise _Unsupported(tok)

    def _call(self, name: str) -> Linear:
        self._take("(")
        args = [self._sum()]
        while self._peek() == ",":
            self._take()
            args.append(self._sum())
        self._take(")")
        low = name.lower()
        if low in _ROUNDING and len(args) == 1:
            self.rounded = True
            return args[0]
        if low in _DIVS and len(args) == 2:
            self.rounded = True
            return _div(args[0], args[1])
        raise _Unsupported(name)


def _add(a: Linear, b: Linear, sign: int) -> Linear:
    out = dict(a)
    for k, v in b.items():
        out[k] = out.get(k, Fraction(0)) + sign * v
    return {k: v for k, v in out.items() if v != 0 or k == ()}


def _scale(a: Linear, c: Fraction) -> Linear:
    return {k: v * c for k, v in a.items()}


def _const(a: Linear) -> Fraction | None:
    return a.get((), Fraction(0)) if all(k == () or v == 0 for k, v in a.items()) else None


def _mul(a: Linear, b: Linear) -> Linear:
    out: Linear = {}
    for ka, va in a.items():
        for kb, vb in b.items():
            k = tuple(sorted(ka + kb))
            out[k] = out.get(k, Fraction(0)) + va * vb
    return {k: v for k, v in out.items() if v != 0 or k == ()}


def _div(a: Linear, b: Linear) -> Linear:
    cb = _const(b)
    if cb is None or cb == 0:
        raise _Unsupported("division by a symbol")
    return _scale(a, 1 / cb)
