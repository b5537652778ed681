"""A static scan of torch.save's pickle (``data.pkl``) before ``torch.load`` ever reads it.

``torch.load(..., weights_only=True)`` refuses every global but tensors and plain containers, so a
file cannot run code; but it builds whatever nesting the opcodes describe, and a tuple nested two
million deep used as a dict key crashed the whole server in the error message's ``repr`` (a
segfault), one nested 100 000 deep raised RecursionError.  This scan walks the opcodes with
:func:`pickletools.genops` (which only decodes them; nothing is built) and refuses, naming the byte
offset:

* more than ``max_opcodes`` opcodes;
* an opcode outside the protocol-2 set that ``torch.save`` writes for a state_dict;
* a global outside ``torch`` and ``collections`` (``torch.load`` would refuse it too, later);
* containers nested deeper than ``max_depth``;
* more than ``max_entries`` dict entries in all (``None``: no cap).  A state_dict sets one per tensor and, in its
  ``_metadata``, two per module, so a cap of a few times the tensor cap refuses a file of 50 000 keys before
  ``torch.load`` builds 50 000 tensors (which took seconds), while the exact key count is checked after loading.

Depth is tracked on a model of the unpickler's stack: each item has the depth of the containers
it is made of (a plain value 0, a tuple of plain values 1, ...), memoised values keep theirs, and an
APPEND/SETITEM/BUILD raises its receiver to one more than what it takes in.  A state_dict of tensors
is about 6 deep.
"""

from __future__ import annotations

import pickletools

from server.uploads.limits import UploadRefused

# What torch.save's pickler (protocol 2) writes for a state_dict, and plain data besides.
ALLOWED_OPCODES = frozenset({
    "PROTO", "STOP", "GLOBAL", "REDUCE", "BUILD", "MARK", "TUPLE", "TUPLE1", "TUPLE2", "TUPLE3",
    "EMPTY_TUPLE", "EMPTY_LIST", "EMPTY_DICT", "APPEND", "APPENDS", "SETITEM", "SETITEMS", "NONE",
    "NEWFALSE", "NEWTRUE", "BININT", "BININT1", "BININT2", "LONG1", "BINFLOAT", "BINUNICODE",
    "SHORT_BINSTRING", "BINPERSID", "BINGET", "LONG_BINGET", "BINPUT", "LONG_BINPUT",
})  # fmt: skip
ALLOWED_GLOBAL_MODULES = ("torch", "collections")
# Opcodes that add what they pop to the item below (the receiver) instead of making a new container.
_INTO_RECEIVER = frozenset({"APPEND", "APPENDS", "SETITEM", "SETITEMS", "BUILD"})
_MEMO_PUT = frozenset({"BINPUT", "LONG_BINPUT"})
_MEMO_GET = frozenset({"BINGET", "LONG_BINGET"})


def _refuse(message: str) -> UploadRefused:
    return UploadRefused("model", f"the model file's pickle (data.pkl) {message}; nothing was loaded")


def scan_pickle(data: bytes, max_opcodes: int, max_depth: int, max_entries: int | None = None) -> int:
    """Check ``data`` as above; returns the deepest nesting seen.  Raises :class:`UploadRefused`."""
    entries = 0
    stack: list[int] = []  # the depth of each item the unpickler would hold
    marks: list[int] = []  # stack heights at each MARK
    memo: dict[int, int] = {}
    deepest = 0
    count = 0
    try:
        for op, arg, pos in pickletools.genops(data):
            count += 1
            if count > max_opcodes:
                raise _refuse(f"has more than {max_opcodes:,} opcodes")
            name = op.name
            if name not in ALLOWED_OPCODES:
                raise _refuse(f"uses the opcode {name} at byte {pos}, which a state_dict saved by torch.save "
                              "never does")
            if name == "GLOBAL" and str(arg).split(" ")[0].split(".")[0] not in ALLOWED_GLOBAL_MODULES:
                module = str(arg).split(" ")[0]
                raise _refuse(f"names {module[:80]!r} at byte {pos}: only torch's tensors and collections' "
                              "OrderedDict are read")
            if name == "MARK":
                marks.append(len(stack))
                continue
            if name in _MEMO_PUT:
                if not stack:
                    raise _refuse(f"stores an empty stack at byte {pos}")
                memo[arg] = stack[-1]
                continue
            if name in _MEMO_GET:
                if arg not in memo:
                    raise _refuse(f"reads memo {arg} before storing it, at byte {pos}")
                stack.append(memo[arg])
                continue
            taken = _pop(op, stack, marks, pos)
            if name in _INTO_RECEIVER:
                receiver, taken = taken[0], taken[1:]
                if name.startswith("SETITEM"):
                    entries += len(taken) // 2
                    if max_entries is not None and entries > max_entries:
                        raise _refuse(f"sets more than {max_entries:,} dict entries (at byte {pos})")
                depth = max(receiver, 1 + max(taken, default=0))
            else:
                depth = 1 + max(taken) if taken else (1 if name.startswith("EMPTY_") else 0)
            if depth > max_depth:
                raise _refuse(f"nests containers more than {max_depth} deep (at byte {pos})")
            deepest = max(deepest, depth)
            stack.extend([depth] * len(op.stack_after))
    except UploadRefused:
        raise
    except (ValueError, EOFError, KeyError, IndexError) as e:  # what genops raises on malformed bytes
        raise _refuse(f"is malformed ({type(e).__name__})") from None
    if count == 0 or marks:
        raise _refuse("is incomplete")
    return deepest


def _pop(op, stack: list[int], marks: list[int], pos: int) -> list[int]:
    """Take what ``op`` consumes off the model stack: its fixed items and, for MARK-based ops, the slice."""
    before = op.stack_before
    sliced = pickletools.markobject in before
    fixed = sum(1 for s in before if s not in (pickletools.markobject, pickletools.stackslice))
    taken: list[int] = []
    if sliced:
        if not marks:
            raise _refuse(f"uses {op.name} without a MARK, at byte {pos}")
        start = marks.pop()
        taken = stack[start:]
        del stack[start:]
    if fixed > len(stack):
        raise _refuse(f"takes from an empty stack at byte {pos} ({op.name})")
    if fixed:
        taken = stack[-fixed:] + taken
        del stack[-fixed:]
    return taken
