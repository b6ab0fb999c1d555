"""A pickle reader that builds plain data and never imports or calls anything.

``pickle.loads`` resolves every ``GLOBAL`` opcode with ``find_class`` (an import) and runs
``REDUCE``/``NEWOBJ``/``BUILD`` (calls): that is how a pickle runs code. This reader walks
the same opcodes but only *records* them: a global becomes a :class:`Global` (two strings), a
call becomes a :class:`Call` (the callee and its arguments, nothing called), an object made
with ``NEWOBJ`` becomes an :class:`Obj` whose ``BUILD`` state is stored, not applied, and a
persistent id (how torch points at tensor storages) becomes a :class:`PersistentRef`.
Interpreting those records (e.g. ``torch._utils._rebuild_tensor_v2`` -> a shape) is the
caller's job, on plain data. A hostile payload (``os.system`` in a ``REDUCE``) is therefore
just a ``Call`` object in the result.

Covers the opcodes of protocols 0-5 that data pickles use; an unknown opcode, a truncated
stream or a broken stack raises :class:`PickleDataError` (one sentence).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any


class PickleDataError(ValueError):
    """The bytes are not a pickle this reader understands (damaged or unsupported)."""


@dataclass(frozen=True)
class Global:
    module: str
    name: str

    @property
    def qualname(self) -> str:
        return f"{self.module}.{self.name}" if self.module else self.name


@dataclass
class Call:
    """``func(*args)`` as recorded by REDUCE / NEWOBJ; nothing was called."""

    func: Any
    args: tuple
    state: Any = None  # set by BUILD


@dataclass
class Obj:
    """An object of class ``cls`` (NEWOBJ / INST / OBJ) with its BUILD state, not applied."""

    cls: Any
    args: tuple = ()
    state: Any = None
    items: list = field(default_factory=list)  # APPEND(S) / SETITEM(S) on such an object


@dataclass(frozen=True)
class PersistentRef:
    pid: Any


# Protect against a small file that asks for a huge structure.
MAX_MEMO = 10_000_000
MAX_STACK_DEPTH = 100_000


def loads(data: bytes) -> Any:
    """The pickled value as plain data (see the module docstring); never imports or calls."""
    return _Reader(data).run()


class _Mark:
    __slots__ = ()


_MARK = _Mark()


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = memoryview(data)
        self.pos = 0
        self.stack: list[Any] = []
        self.marks: list[int] = []
        self.memo: dict[int, Any] = {}

    # ---- byte access ----------------------------------------------------------------------
    def read(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise PickleDataError("pickle data is truncated")
        out = bytes(self.data[self.pos:self.pos + n])
        self.pos += n
        return out

    def line(self) -> bytes:
        end = bytes(self.data[self.pos:self.pos + 65536]).find(b"\n")
        if end < 0:
            raise PickleDataError("pickle data is truncated (unterminated line)")
        out = bytes(self.data[self.pos:self.pos + end])
        self.pos += end + 1
        return out

    def u(self, fmt: str, n: int) -> Any:
        return struct.unpack(fmt, self.read(n))[0]

    # ---- stack helpers --------------------------------------------------------------------
    def pop(self) -> Any:
        if not self.stack:
            raise PickleDataError("pickle stack underflow")
        v = self.stack.pop()
        if v is _MARK:
            raise PickleDataError("pickle stack holds a mark where a value was expected")
        return v

    def pop_mark(self) -> list[Any]:
        if not self.marks:
            raise PickleDataError("pickle has no mark to pop to")
        k = self.marks.pop()
        if k >= len(self.stack) or self.stack[k] is not _MARK:
            raise PickleDataError("pickle mark was consumed by another opcode")
        items = self.stack[k + 1:]
        del self.stack[k:]
        if any(v is _MARK for v in items):
            raise PickleDataError("pickle has an unclosed mark")
        return items

    def top(self) -> Any:
        if not self.stack or self.stack[-1] is _MARK:
            raise PickleDataError("pickle stack underflow")
        return self.stack[-1]

    def push(self, v: Any) -> None:
        if len(self.stack) > MAX_STACK_DEPTH:
            raise PickleDataError("pickle stack is too deep")
        self.stack.append(v)

    def put(self, idx: int) -> None:
        if len(self.memo) > MAX_MEMO:
            raise PickleDataError("pickle memo is too large")
        self.memo[idx] = self.top()

    def get(self, idx: int) -> None:
        if idx not in self.memo:
            raise PickleDataError(f"pickle refers to memo entry {idx} that was never stored")
        self.push(self.memo[idx])

    # ---- the loop -------------------------------------------------------------------------
    def run(self) -> Any:  # noqa: C901 - one branch per opcode reads best as a flat table
        while True:
            op = self.read(1)
            if op == b".":  # STOP
                return self.pop()
            if op == b"\x80":  # PROTO
                self.read(1)
            elif op == b"\x95":  # FRAME
                self.read(8)
            elif op == b"(":  # MARK
                self.marks.append(len(self.stack))
                self.push(_MARK)
            elif op == b"N":
                self.push(None)
            elif op == b"\x88":
                self.push(True)
            elif op == b"\x89":
                self.push(False)
            elif op == b"K":
                self.push(self.read(1)[0])
            elif op == b"M":
                self.push(self.u("<H", 2))
            elif op == b"J":
                self.push(self.u("<i", 4))
            elif op == b"\x8a":  # LONG1
                n = self.read(1)[0]
                self.push(int.from_bytes(self.read(n), "little", signed=True))
            elif op == b"\x8b":  # LONG4
                n = self.u("<i", 4)
                if n > 1 << 16:
                    raise PickleDataError("pickle holds an absurdly long integer")
                self.push(int.from_bytes(self.read(n), "little", signed=True))
            elif op == b"I":  # INT (protocol 0)
                text = self.line()
                self.push(True if text == b"01" else False if text == b"00" else int(text))
            elif op == b"L":
                self.push(int(self.line().rstrip(b"L")))
            elif op == b"G":
                self.push(self.u(">d", 8))
            elif op == b"F":
                self.push(float(self.line()))
            elif op == b"X":
                self.push(self._text(self.u("<I", 4)))
            elif op == b"\x8c":  # SHORT_BINUNICODE
                self.push(self._text(self.read(1)[0]))
            elif op == b"\x8d":  # BINUNICODE8
                self.push(self._text(self.u("<Q", 8)))
            elif op == b"V":
                self.push(self.line().decode("raw_unicode_escape"))
            elif op in (b"T", b"B"):  # BINSTRING / BINBYTES
                self.push(self.read(self.u("<I", 4)))
            elif op in (b"U", b"C"):  # SHORT_BINSTRING / SHORT_BINBYTES
                self.push(self.read(self.read(1)[0]))
            elif op == b"\x8e":  # BINBYTES8
                self.push(self.read(self.u("<Q", 8)))
            elif op == b"\x96":  # BYTEARRAY8
                self.push(self.read(self.u("<Q", 8)))
            elif op == b"S":
                self.push(self.line())
            elif op == b")":
                self.push(())
            elif op == b"]":
                self.push([])
            elif op == b"}":
                self.push({})
            elif op == b"\x8f":  # EMPTY_SET
                self.push([])
            elif op == b"t":
                self.push(tuple(self.pop_mark()))
            elif op == b"\x85":
                self.push((self.pop(),))
            elif op == b"\x86":
                b = self.pop()
                self.push((self.pop(), b))
            elif op == b"\x87":
                c = self.pop()
                b = self.pop()
                self.push((self.pop(), b, c))
            elif op == b"l":
                self.push(list(self.pop_mark()))
            elif op == b"d":
                items = self.pop_mark()
                self.push(self._dict(items))
            elif op == b"\x91":  # FROZENSET
                self.push(tuple(self.pop_mark()))
            elif op == b"a":  # APPEND
                v = self.pop()
                self._extend(self.top(), [v])
            elif op == b"e":  # APPENDS
                items = self.pop_mark()
                self._extend(self.top(), items)
            elif op == b"\x90":  # ADDITEMS
                items = self.pop_mark()
                self._extend(self.top(), items)
            elif op == b"s":  # SETITEM
                v = self.pop()
                k = self.pop()
                self._setitems(self.top(), [k, v])
            elif op == b"u":  # SETITEMS
                items = self.pop_mark()
                self._setitems(self.top(), items)
            elif op == b"p":
                self.memo[int(self.line())] = self.top()
            elif op == b"q":
                self.put(self.read(1)[0])
            elif op == b"r":
                self.put(self.u("<I", 4))
            elif op == b"\x94":  # MEMOIZE
                self.put(len(self.memo))
            elif op == b"g":
                self.get(int(self.line()))
            elif op == b"h":
                self.get(self.read(1)[0])
            elif op == b"j":
                self.get(self.u("<I", 4))
            elif op == b"c":  # GLOBAL: recorded as two strings, never imported
                module = self.line().decode("utf-8", "replace")
                name = self.line().decode("utf-8", "replace")
                self.push(Global(module, name))
            elif op == b"\x93":  # STACK_GLOBAL
                name = self.pop()
                module = self.pop()
                self.push(Global(str(module), str(name)))
            elif op == b"R":  # REDUCE: recorded, never called
                args = self.pop()
                func = self.pop()
                self.push(Call(func, tuple(args) if isinstance(args, (tuple, list)) else (args,)))
            elif op == b"\x81":  # NEWOBJ
                args = self.pop()
                cls = self.pop()
                self.push(Obj(cls, tuple(args) if isinstance(args, (tuple, list)) else ()))
            elif op == b"\x92":  # NEWOBJ_EX
                self.pop()  # kwargs
                args = self.pop()
                cls = self.pop()
                self.push(Obj(cls, tuple(args) if isinstance(args, (tuple, list)) else ()))
            elif op == b"o":  # OBJ
                items = self.pop_mark()
                if not items:
                    raise PickleDataError("pickle OBJ has no class")
                self.push(Obj(items[0], tuple(items[1:])))
            elif op == b"i":  # INST
                module = self.line().decode("utf-8", "replace")
                name = self.line().decode("utf-8", "replace")
                self.push(Obj(Global(module, name), tuple(self.pop_mark())))
            elif op == b"b":  # BUILD: the state is stored on the record, never applied
                state = self.pop()
                target = self.top()
                if isinstance(target, (Obj, Call)):
                    target.state = state
                # BUILD on plain data (a dict/list) would call __setstate__: ignore it
            elif op == b"Q":  # BINPERSID
                self.push(PersistentRef(self.pop()))
            elif op == b"P":  # PERSID
                self.push(PersistentRef(self.line().decode("ascii", "replace")))
            elif op == b"0":
                self.pop()
            elif op == b"2":
                self.push(self.top())
            elif op == b"1":  # POP_MARK
                self.pop_mark()
            elif op == b"\x97":  # NEXT_BUFFER (out-of-band): not in files
                raise PickleDataError("pickle uses out-of-band buffers")
            elif op == b"\x98":  # READONLY_BUFFER
                pass
            else:
                raise PickleDataError(f"pickle opcode {op!r} at byte {self.pos - 1} is not "
                                      "understood")

    def _text(self, n: int) -> str:
        return self.read(n).decode("utf-8", "surrogatepass")

    @staticmethod
    def _dict(items: list[Any]) -> dict:
        out: dict = {}
        for i in range(0, len(items) - 1, 2):
            out[_key(items[i])] = items[i + 1]
        return out

    @staticmethod
    def _extend(target: Any, items: list[Any]) -> None:
        if isinstance(target, list):
            target.extend(items)
        elif isinstance(target, Obj):
            target.items.extend(items)
        elif isinstance(target, Call):
            pass  # e.g. appending to a recorded collections.deque(): nothing to keep
        else:
            raise PickleDataError(f"pickle appends to a {type(target).__name__}")

    @staticmethod
    def _setitems(target: Any, items: list[Any]) -> None:
        if isinstance(target, dict):
            for i in range(0, len(items) - 1, 2):
                target[_key(items[i])] = items[i + 1]
        elif isinstance(target, (Obj, Call)):
            if isinstance(target, Obj):
                target.items.extend(zip(items[::2], items[1::2], strict=False))
            else:
                # OrderedDict() and friends: keep the items as the call's state
                if not isinstance(target.state, dict):
                    target.state = {}
                for i in range(0, len(items) - 1, 2):
                    target.state[_key(items[i])] = items[i + 1]
        else:
            raise PickleDataError(f"pickle sets items on a {type(target).__name__}")


def _key(k: Any) -> Any:
    """Dict keys must be hashable; a list/dict key in a hostile pickle becomes its repr."""
    try:
        hash(k)
    except TypeError:
        return repr(k)[:200]
    return k
