"""Where a recurrence's state is among a call's arguments, and the views a step takes it and returns it through.

A call's arguments and results are nested tuples, lists and dicts of tensors: a state is found by its path in
them (:func:`leaves`) and replaced there by a view (:func:`replace_leaves`).  The views are identities in the
user's forward pass; their ``.grad`` (or, for a :class:`Gate`, whether they pass the gradient on) is how the
recorder (engine/tracing/recurrence.py) tells apart what flows through a step's state from what reaches it
from outside.
"""

from __future__ import annotations

import torch

_MAX_DEPTH = 6  # how deep into nested tuples, lists and dicts a call's arguments are searched for states


def leaves(obj, path: tuple = (), depth: int = 0):
    """``[(path, tensor)]`` of every tensor in nested tuples, lists and dicts."""
    if isinstance(obj, torch.Tensor):
        return [(path, obj)]
    if depth >= _MAX_DEPTH:
        return []
    if isinstance(obj, tuple | list):
        items = enumerate(obj)
    elif isinstance(obj, dict):
        items = obj.items()
    else:
        return []
    return [leaf for key, value in items for leaf in leaves(value, (*path, key), depth + 1)]


def replace_leaves(obj, repl: dict, path: tuple = (), within: set | None = None):
    """``obj`` with the tensors at ``repl``'s paths replaced; untouched branches are the same objects."""
    if path in repl:
        return repl[path]
    if within is None:
        within = {p[:i] for p in repl for i in range(len(p))}
    if path not in within:
        return obj
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):  # a namedtuple
        return type(obj)(*(replace_leaves(v, repl, (*path, i), within) for i, v in enumerate(obj)))
    if isinstance(obj, tuple | list):
        return type(obj)(replace_leaves(v, repl, (*path, i), within) for i, v in enumerate(obj))
    return {k: replace_leaves(v, repl, (*path, k), within) for k, v in obj.items()}


class Gate(torch.autograd.Function):
    """An identity view whose backward passes the gradient on while ``switch[side]`` is true, else nothing.

    ``side`` is 'in' (a step's state input) or 'out' (what a step returned).  The backward is plain enough for
    autograd to run it over many rows at once (``is_grads_batched``)."""

    @staticmethod
    def forward(ctx, x, switch, side):
        ctx.switch, ctx.side = switch, side
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return (grad if ctx.switch[ctx.side] else None), None, None


def as_leaf(t: torch.Tensor) -> torch.Tensor:
    """What a cell takes in place of ``t``: a view whose ``.grad`` is what flows back into ``t`` through it, or a
    leaf copy of a constant (gradients disabled upstream make no difference to the user's graph)."""
    if t.requires_grad:
        v = t.view_as(t)
        v.retain_grad()
        return v
    return t.detach().requires_grad_()
