"""Find the recurrences a model runs, as it runs: which calls of which module form one loop over time.

:class:`Recorder` watches one run of the user's ``compute_loss`` (engine/tracing/submodules.py) and records four kinds
of recurrence, each keyed as the trace will be:

- a stock ``nn.RNN``/``LSTM``/``GRU`` (``kind`` 'module'): every call runs through the tracer's fused path
  (:func:`engine.tracing.fused.start_trace`), also when a subclass's own ``forward`` calls ``super().forward``;
- a stock ``nn.RNNCell``/``LSTMCell``/``GRUCell`` (``kind`` 'cell'): every call, its state input replaced by an
  identity view (a leaf copy when it is a constant, zeros when it is not given) whose ``.grad`` is what flows
  back through that input;
- any other module whose returned state feeds its next call (``kind`` 'custom'), seen through forward hooks
  (torch.nn's own layers without submodules, Linear, Embedding, activations, are parts of steps: not hooked);
- a tensor marked with :func:`mark_state` (``kind`` 'marked').

A call *chains* to the previous call of the same module when the state it is given *is* (the same tensor
object as) the state that call returned: the calls of a module fall into segments of chained calls, each
one trace along time.  The stock module and cell interceptors see ``hx``; a custom module's state is any
tensor it returned that its next call takes, minus the first element of a returned tuple when that goes
back in as the first argument and others are fed back elsewhere (PyTorch's ``(output, state)``
convention: an output fed back as the next input is an input).
A view the recorder feeds a module in place of a state remembers what it views, so a module inside sees
the state its own previous call returned.

What a cell or a custom module returns reaches the caller as an identity view of it too (a mark returns
one).  The ``.grad`` of the tensor computed inside is autograd's total derivative, also through what the
step computed from it (an LSTM's h_t from its c_t); the view's is what arrives from outside the step,
the cotangent a vector-Jacobian product through the step takes (engine/tracing/joined.py).

A custom module's views are :class:`Gate` s: identities in the user's backward pass that engine/tracing/joined.py
can close for its own passes over the recorded graph.  Closing every gate cuts the graph at each step's
state input and at everything the step returned, so that one pass seeded at every step's state measures
each step's vector-Jacobian product alone; closing the returned ones only leaves the chain of states, the
lag map's path.  The gate a step takes its state through is made from the tensor the step before computed
(not from the view the caller holds), so that chain bypasses the closed views.

Stock classes are intercepted by swapping the instance's class for a subclass whose ``forward`` records
(restored afterwards), which is also how ``super().forward`` inside a user's subclass is reached.
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass, field

import torch
from torch import nn

from engine.tracing.fused import TraceRun, start_trace
from engine.tracing.states import Gate, as_leaf, leaves, replace_leaves

__all__ = ["mark_state"]

_RECORDING: contextvars.ContextVar[Recorder | None] = contextvars.ContextVar("gfl_recording", default=None)

STOCK = (nn.LSTM, nn.GRU, nn.RNN, nn.LSTMCell, nn.GRUCell, nn.RNNCell)
CELL_NAMES = {nn.LSTMCell: "lstm", nn.GRUCell: "gru", nn.RNNCell: "rnn"}


def mark_state(state, name: str):
    """Mark ``state`` as step t of the recurrence ``name``: an identity, and a no-op outside tracing.

    Inside :func:`engine.trace_submodules` each call makes the next step of a trace keyed ``name``::

        for t in range(T):
            H = torch.tanh(X[t] @ W_xh + H @ W_hh + b_h)
            H = mark_state(H, "H")            # or (H, C) = mark_state((H, C), "lstm"), h first

    Mark the state after each update (a constant initial state has no gradient to read).
    """
    recorder = _RECORDING.get()
    return state if recorder is None else recorder.mark(state, name)


@dataclass
class Step:
    """One step of a recurrence (engine/tracing/joined.py reads it after the backward pass).

    ``out`` is the state the step computed (h first, c second): its ``.grad`` is the total derivative.
    ``state`` is the same as the caller received it (views, or for a mark the marked tensors): its ``.grad``
    is what arrived from outside the step.  ``state_in`` is what the step took as its state: for a cell or a
    custom module the views fed in its place, for a mark the previous step's ``state``; for a first step the
    given initial state, or None when nothing can be read through it.  ``x`` is a cell's input as fed;
    ``given`` the state objects a cell was given.
    """

    state: tuple[torch.Tensor, ...]
    out: tuple[torch.Tensor, ...]
    state_in: tuple[torch.Tensor, ...] | None
    given: tuple[torch.Tensor, ...] = ()
    x: torch.Tensor | None = None
    gates: dict | None = None  # a custom module's switch (:class:`Gate`), shared by all its recorder's gates


@dataclass
class StockCall:
    """One call of a stock ``nn.RNN``/``LSTM``/``GRU``: its traced run, the state it was given, what it returned."""

    run: TraceRun
    given: tuple[torch.Tensor, ...]
    state: tuple[torch.Tensor, ...]


@dataclass
class _Frame:
    """A custom module's call between its pre-hook and its forward hook."""

    inputs: list  # [(path, tensor)] as given
    roots: set  # ids of what the inputs resolve to
    links: list  # [(previous call's output path, this call's input path)] of the state
    views: tuple = ()


@dataclass
class _Custom:
    """A custom module's bookkeeping: its last call and its segments of chained steps."""

    calls: int = 0
    last_inputs: list = field(default_factory=list)  # [(path, tensor)] of the previous call
    last_outputs: list = field(default_factory=list)  # [(path, view returned)]
    last_roots: dict = field(default_factory=dict)  # id(what an output resolves to) -> (path, output)
    last_input_roots: set = field(default_factory=set)
    paths: tuple = ()  # output paths of the open segment's state
    open: bool = False
    segments: list[list[Step]] = field(default_factory=list)
    stack: list = field(default_factory=list)  # frames of calls under way (a module may call itself)


class Recorder:
    """Hooks and interceptors on every submodule of ``model`` while it is active (a context manager).

    ``lag``: a lag map is wanted, and a cell's outputs reach the caller as views too (the module docstring).
    ``stock_only``: record the stock ``nn.RNN``/``LSTM``/``GRU`` calls alone, no hooks on the other modules (what
    :func:`engine.tracing.submodules.run_submodules` reads): their views would only cost the forward and backward.
    """

    def __init__(self, model: nn.Module, lag: bool = False, stock_only: bool = False):
        self.stock_only = stock_only
        self.modules = dict(model.named_modules())
        self.names = {id(m): name for name, m in self.modules.items()}
        self.lag = lag
        self.switch = {"in": True, "out": True}  # the custom modules' gates, open while the user's backward runs
        self.stock: dict[str, list[StockCall]] = {}
        self.cells: dict[str, list[list[Step]]] = {}
        self.custom: dict[str, _Custom] = {}
        self.marks: dict[str, list[Step]] = {}
        self.root: dict[int, torch.Tensor] = {}  # id(a view the recorder made) -> the tensor it stands for
        self._keep: list[torch.Tensor] = []  # the views, alive so that their ids are not reused
        self._widened: dict = {}  # stock modules' widened input weights, built once per forward (fused.start_trace)
        self._handles: list = []
        self._classes: list[tuple[nn.Module, type]] = []
        self._token = None

    # -- installing and removing ---------------------------------------------------------------------------
    def __enter__(self) -> Recorder:
        try:
            for name, m in self.modules.items():
                stock = next((c for c in STOCK if isinstance(m, c)), None)
                own = stock is None or _own_forward(m, stock)
                if stock is not None:
                    self._classes.append((m, type(m)))
                    m.__class__ = _traced_class(type(m), stock)
                if own and not self.stock_only and not _building_block(m):
                    self.custom[name] = _Custom()
                    self._handles.append(m.register_forward_pre_hook(self._pre_hook, with_kwargs=True))
                    self._handles.append(m.register_forward_hook(self._post_hook, with_kwargs=True))
        except BaseException:
            self._restore()
            raise
        self._token = _RECORDING.set(self)
        return self

    def __exit__(self, *exc) -> None:
        _RECORDING.reset(self._token)
        self._restore()

    def _restore(self) -> None:
        for h in self._handles:
            h.remove()
        for m, cls in self._classes:
            m.__class__ = cls
        self._handles, self._classes = [], []

    def resolve(self, t: torch.Tensor) -> torch.Tensor:
        """The tensor ``t`` stands for: itself, or what the recorder's views of views were first made from."""
        return self.root.get(id(t), t)

    def _chains(self, given: tuple, previous: tuple) -> bool:
        return len(given) == len(previous) > 0 and all(self.resolve(g) is self.resolve(p)
                                                         for g, p in zip(given, previous))

    def _view(self, t: torch.Tensor, side: str | None = None) -> torch.Tensor:
        """An identity view of ``t`` (a :class:`Gate` on ``side``) that resolves to what ``t`` resolves to."""
        v = t.view_as(t) if side is None else Gate.apply(t, self.switch, side)
        self.root[id(v)] = self.resolve(t)
        self._keep.append(v)
        return v

    # -- stock modules and cells -----------------------------------------------------------------------------
    def stock_call(self, module: nn.Module, stock: type, input, hx):
        name = self.names[id(module)]
        if not torch.is_grad_enabled():
            raise ValueError(f"{_label(name)}: ran with gradients disabled (torch.no_grad): nothing to trace")
        if stock in CELL_NAMES:
            return self._cell_call(name, module, stock, input, hx)
        run, output, h_n = start_trace(module, input, hx, _label(name), weights=self._widened)
        given = tuple(self.resolve(t) for _, t in leaves(hx))
        state = tuple(h_n) if isinstance(h_n, tuple) else (h_n,)
        self.stock.setdefault(name, []).append(StockCall(run, given, state))
        return output, h_n

    def _cell_call(self, name: str, module: nn.Module, stock: type, input, hx):
        lstm = stock is nn.LSTMCell
        if hx is None:
            shape = (*input.shape[:-1], module.hidden_size)
            hx = tuple(input.new_zeros(shape) for _ in range(2 if lstm else 1))
            given: tuple = ()
        else:
            hx = tuple(hx) if lstm else (hx,)
            given = tuple(self.resolve(t) for t in hx)
        fed = tuple(as_leaf(t) for t in hx)
        out = stock.forward(module, input, fed if lstm else fed[0])
        raw = tuple(out) if lstm else (out,)
        # views only for a lag map, whose seeds are what arrives from outside the step (the module docstring)
        state = tuple(self._view(t) for t in raw) if self.lag else raw
        step = Step(state, raw, fed, given, input)
        segments = self.cells.setdefault(name, [])
        if segments and self._chains(given, segments[-1][-1].state):
            segments[-1].append(step)
        else:
            segments.append([step])
        return state if lstm else state[0]

    # -- any other module ----------------------------------------------------------------------------------
    def _pre_hook(self, module, args, kwargs):
        rec = self.custom[self.names[id(module)]]
        if not torch.is_grad_enabled():
            rec.stack.append(None)
            return None
        inputs = leaves((args, kwargs))
        roots = [id(self.resolve(t)) for _, t in inputs]
        links = []
        if rec.last_roots:
            own = rec.last_input_roots  # an output that was an input is no new state
            for (path, _), root in zip(inputs, roots):
                hit = rec.last_roots.get(root)
                if hit is not None and root not in own and hit[1].requires_grad:
                    links.append((hit[0], path))
            links = _state_links(links, rec.last_outputs) if links else links
        frame = _Frame(inputs, set(roots), links)
        rec.stack.append(frame)
        if not links:
            return None
        given = dict(inputs)
        views = {path: self._view(self.resolve(given[path]), "in") for _, path in links}
        for v in views.values():
            v.retain_grad()
        frame.views = tuple(views[path] for _, path in links)
        return replace_leaves((args, kwargs), views)

    def _post_hook(self, module, args, kwargs, output):
        rec = self.custom[self.names[id(module)]]
        frame = rec.stack.pop()
        if frame is None:
            return None
        rec.calls += 1
        # every returned tensor that can carry a gradient reaches the caller as a view (the module docstring)
        gates = {p: self._view(t, "out") for p, t in leaves(output) if t.requires_grad and t.is_floating_point()}
        output = replace_leaves(output, gates) if gates else output
        outputs = leaves(output)
        paths = tuple(p for p, _ in frame.links)
        if paths:
            by_path = dict(outputs)
            state = tuple(by_path.get(p) for p in paths)
            if not rec.open or rec.paths != paths:  # a new segment, from the previous call
                before, inputs = dict(rec.last_outputs), dict(rec.last_inputs)
                first = tuple(before[p] for p in paths)
                first_in = tuple(inputs.get(q) for _, q in frame.links)
                readable = all(t is not None and t.requires_grad for t in first_in)
                rec.segments.append([Step(first, tuple(self.resolve(t) for t in first),
                                          first_in if readable else None, gates=self.switch)])
                rec.paths = paths
            rec.open = all(t is not None and id(t) in self.root for t in state)
            if rec.open:
                rec.segments[-1].append(Step(state, tuple(self.resolve(t) for t in state), frame.views,
                                             gates=self.switch))
        else:
            rec.open = False
        rec.last_inputs, rec.last_input_roots = frame.inputs, frame.roots
        rec.last_outputs = outputs
        rec.last_roots = {id(self.resolve(t)): (p, t) for p, t in outputs}
        return output

    # -- marks ---------------------------------------------------------------------------------------------
    def mark(self, state, name: str):
        if not isinstance(name, str) or not name:
            raise ValueError(f"mark_state: name must be a non-empty string; got {name!r}")
        parts = tuple(state) if isinstance(state, tuple | list) else (state,)
        if not parts or not all(isinstance(p, torch.Tensor) and p.is_floating_point() for p in parts):
            raise ValueError(f"mark_state({name!r}): the state must be a floating-point tensor or a tuple (h, c) of "
                             "them")
        if not torch.is_grad_enabled() or not all(p.requires_grad for p in parts):
            raise ValueError(f"mark_state({name!r}): the state does not require grad (it depends on no parameter, or "
                             "gradients are disabled): mark it after each update from the model's parameters, not "
                             "the constant it starts from")
        marked = tuple(self._view(p) for p in parts)
        steps = self.marks.setdefault(name, [])
        steps.append(Step(marked, parts, steps[-1].state if steps else None))
        return type(state)(marked) if isinstance(state, tuple | list) else marked[0]


def _state_links(links: list, outputs: list) -> list:
    """The links that carry the state, in the order the module returned them.

    When the module returns a tuple, its first element goes back in as the first argument and other elements
    go back elsewhere (``pred, h = model(pred, h)``), the first element is its output fed back as an input, as
    a prediction is, not part of its state (PyTorch's ``(output, state)``); ``h, c = cell(x, (h, c))`` and
    ``h, c = cell(x, h, c)`` feed back a state pair.
    """
    order = {p: i for i, (p, _) in enumerate(outputs)}
    links = sorted(set(links), key=lambda link: (order[link[0]], link[1]))
    seen, unique = set(), []
    for out_path, in_path in links:  # one input per state tensor
        if out_path not in seen:
            seen.add(out_path)
            unique.append((out_path, in_path))
    first = [link for link in unique if link[0][:1] == (0,)]
    if len(first) < len(unique) and any(in_path[:2] == (0, 0) for _, in_path in first):
        unique = [link for link in unique if link[0][:1] != (0,)]
    return unique


def _building_block(module: nn.Module) -> bool:
    """One of torch.nn's own layers without submodules (Linear, Embedding, an activation, a loss): a part of a
    step, not a step.  A loop that feeds such a layer its own output needs a mark."""
    return type(module).__module__.startswith("torch.nn.") and not module._modules


def _own_forward(module: nn.Module, stock: type) -> bool:
    return type(module).forward is not stock.forward


_TRACED: dict[type, type] = {}


def _traced_class(cls: type, stock: type) -> type:
    """``cls`` with the stock class's ``forward`` recorded (a subclass's own forward reaches it by super())."""
    if cls not in _TRACED:
        base = _TRACED.get(stock)
        if base is None:
            base = _TRACED[stock] = type(f"Traced{stock.__name__}", (stock,), {"forward": _stock_forward,
                                                                               "_stock": stock})
        _TRACED[cls] = base if cls is stock else type(cls.__name__, (cls, base), {"__module__": cls.__module__})
    return _TRACED[cls]


def _stock_forward(self, input, hx=None):  # the stock forward's signature
    recorder = _RECORDING.get()
    stock = self._stock
    if recorder is None or id(self) not in recorder.names:
        return stock.forward(self, input, hx)
    return recorder.stock_call(self, stock, input, hx)


def _label(name: str) -> str:
    return name or "the model"

