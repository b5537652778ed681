"""An encoder and the decoder it hands its final state to, as one trace on one time axis (the app's encoder–decoder
view): the encoder's steps 0..T_e-1, then the decoder's T_e..T_e+T_d-1, the handoff marked between them.

``trace_submodules`` returns the two halves under their own names (``encoder.gru``, ``decoder.gru``); which one
feeds which is the user's code, not something a trace records, so the caller names the pair
(``show(traces, handoff=("encoder.gru", "decoder.gru"))``) and nothing is joined by guess.  The halves must be of
one cell, batch and width; where their layers or directions differ, the rows one half lacks are NaN on its steps
(drawn as missing).  The handoff gradient is ‖∂L/∂h_0‖ of the decoder's first call over layers, batch and units:
what reaches the encoder through the state it handed over.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from engine.tracing import ModuleTrace


def _padded(a: np.ndarray | None, L: int, D: int) -> np.ndarray | None:
    """``a`` (L', D', ...) with NaN rows added up to (L, D, ...)."""
    if a is None:
        return None
    out = np.full((L, D, *a.shape[2:]), np.nan, dtype=np.result_type(a.dtype, np.float32))
    out[: a.shape[0], : a.shape[1]] = a
    return out


def join_handoff(encoder: ModuleTrace, decoder: ModuleTrace, names: tuple[str, str]) -> tuple[ModuleTrace, int, float]:
    """(the joined trace, the handoff step T_e, the handoff gradient); ``ValueError`` naming what does not match."""
    enc_name, dec_name = names
    for name, t in ((enc_name, encoder), (dec_name, decoder)):
        if not isinstance(t, ModuleTrace):
            raise ValueError(f"handoff: {name!r} must be one trace (a joined decoder), not {type(t).__name__}: a "
                             "decoder stepped token by token is one trace when its calls chain")
    if encoder.cell != decoder.cell:
        raise ValueError(f"handoff: {enc_name!r} is a {encoder.cell} and {dec_name!r} a {decoder.cell}; one time axis "
                         "needs one cell")
    e, d = encoder.hidden, decoder.hidden
    if e.ndim != d.ndim or e.shape[3:] != d.shape[3:] or (encoder.cell_state is None) != (decoder.cell_state is None):
        raise ValueError(f"handoff: {enc_name!r} has states {e.shape[3:]} (batch, units) and {dec_name!r} "
                         f"{d.shape[3:]}; one time axis needs the same batch and width")
    if encoder.output_steps is not None or decoder.output_steps is not None:
        encoder, decoder = (replace(t, output_steps=None, grad_h_by_output=None, grad_x_by_output=None)
                            for t in (encoder, decoder))  # each half's lag map is its own: not joined here
    L, D = max(e.shape[0], d.shape[0]), max(e.shape[1], d.shape[1])

    def cat(name: str):
        parts = [getattr(t, name) for t in (encoder, decoder)]
        return None if parts[0] is None else np.concatenate([_padded(p, L, D) for p in parts], axis=2)

    joined = replace(
        encoder,
        hidden=cat("hidden"), cell_state=cat("cell_state"), grad_h=cat("grad_h"), grad_c=cat("grad_c"),
        gates={k: np.concatenate([_padded(t.gates[k], L, D) for t in (encoder, decoder)], axis=2)
               for k in encoder.gates},
        grad_h_norm=cat("grad_h_norm"), grad_c_norm=cat("grad_c_norm"), grad_out_norm=cat("grad_out_norm"),
        grad_h0=_padded(encoder.grad_h0, L, D), grad_c0=_padded(encoder.grad_c0, L, D),
        lengths=np.asarray(encoder.lengths) + np.asarray(decoder.lengths),
    )  # fmt: skip
    grad = float(np.sqrt(np.square(decoder.grad_h0, dtype=np.float64).sum()))
    return joined, e.shape[2], grad
