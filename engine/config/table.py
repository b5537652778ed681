"""The model space's keys: :data:`FIELDS`, the one table of every config key.

It drives validation (:class:`engine.config.space.Config`), the API's description of every key, the page's
controls and the teaching link (its keys are the URL's keys).  Nothing else in the project lists the keys
again.  What one key is (type, bounds, link text, description) is :class:`engine.config.fields.Field`.
"""

from __future__ import annotations

from engine.config.fields import Field

__all__ = ["VIEWS"]

# Bumped when the meaning of a link changes; written as `v=` in teaching links.
LINK_VERSION = 1

# Link keys that belong to the page, not the model, each with how a link writes it: the link version, the
# lesson (a lesson's id), teacher options (embed: only the views, a yes/no flag; present: the presenter's view,
# settings folded and large type, a flag; hide: control names, comma-separated), compare mode's alternatives
# (cmp_b, cmp_c: key:value pairs, comma-separated) and the layer and direction its charts show (cmp_show: a pick,
# "2,reverse"), the view the page opens on (view: one of VIEWS), and where the views stand: the layer and
# direction of Show (show: a pick) and the player's step (step: 0 … 2T).  The page reads them from
# GET /api/config's page_keys (and views); the model's link readers and /api/script skip them.
PAGE_KEYS: dict[str, str] = {
    "v": "version", "lesson": "lesson", "embed": "flag", "present": "flag", "hide": "keys", "cmp_b": "pairs",
    "cmp_c": "pairs", "view": "view", "cmp_show": "pick", "show": "pick", "step": "step",
}

# The views a link's `view` may open, in the page's order: a figure opens enlarged, filling the window (with
# embed=1 it is the only thing on the page); "lag", the lag map, is a fold that opens in its place (the page asks
# for the map while it is open) and is enlarged only on a presenter's page (present=1) or in an embed.
VIEWS: tuple[str, ...] = ("grad-norm", "hidden", "lag", "grad-units", "gates", "eigen", "layers")


_WEIGHTS = ("weights", "trace")  # a key that draws other initial weights changes the trace too
_DATA = ("data", "trace")

FIELDS: tuple[Field, ...] = (
    # model
    Field(
        "cell", "choice", "rnn", "Recurrent cell: vanilla RNN, LSTM or GRU.", "model", choices=("rnn", "lstm", "gru"),
        label="Cell", affects=_WEIGHTS, choice_labels=(("rnn", "vanilla RNN"), ("lstm", "LSTM"), ("gru", "GRU")),
        self_named=True,
    ),
    Field(
        "nonlinearity",
        "choice",
        "tanh",
        "Activation of the vanilla RNN (LSTM and GRU always use tanh).",
        "model",
        choices=("tanh", "relu"),
        label="Nonlinearity", applies=(("cell", ("rnn",)),), why_not="vanilla RNN only", affects=_WEIGHTS,
        self_named=True, pinned="tanh",
    ),
    Field(
        "arch",
        "choice",
        "many-to-one",
        "Where inputs enter and where the loss is measured.",
        "model",
        choices=("one-to-one", "one-to-many", "many-to-one", "many-to-many", "encoder-decoder"),
        label="Architecture", affects=("weights", "data", "trace"), self_named=True,
    ),
    Field(
        "hidden_size", "int", 32, "Number of units in each hidden state h_t.", "model", low=1, high=256, unit="units",
        label="Hidden size H", affects=_WEIGHTS,
    ),
    Field("num_layers", "int", 1, "Stacked recurrent layers.", "model", low=1, high=4, unit="layers",
          label="Layers L", affects=_WEIGHTS),
    Field("bidirectional", "bool", False, "Add a second direction that reads the sequence backwards.", "model",
          label="Bidirectional", affects=_WEIGHTS),
    # The encoder-decoder's source order: Sutskever et al. (2014) fed the source backwards.
    Field("reverse_source", "bool", False, "Feed the source sentence to the encoder backwards (encoder-decoder only).",
          "model", label="Reverse the source", applies=(("arch", ("encoder-decoder",)),),
          why_not="encoder-decoder only"),
    # Attention (Bahdanau et al. 2015; Luong et al. 2015): every decoder step reads a weighted sum of every
    # encoder step, a direct path for the gradient from each target word to each source word.
    Field("attention", "choice", "none", "How the decoder reads the source: only through the handoff state (none), "
          "or at every step through a weighted sum of every encoder state, scored additively (Bahdanau) or by a dot "
          "product (Luong). Encoder-decoder only.", "model", choices=("none", "additive", "dot"),
          label="Attention", applies=(("arch", ("encoder-decoder",)),), why_not="encoder-decoder only",
          affects=_WEIGHTS, pinned="none",
          choice_labels=(("none", "none"), ("additive", "additive (Bahdanau)"), ("dot", "dot (Luong)"))),
    # sequence
    Field(
        "task",
        "choice",
        "random",
        "What the sequences contain and what the model must predict.",
        "sequence",
        choices=("random", "adding", "copy", "sine", "sentiment", "pattern", "recall", "reverse", "translate"),
        # The task sets the input and output sizes, so it decides the weights' shapes too.
        label="Task", affects=("weights", "data", "trace"), self_named=True,
    ),
    Field(
        "seq_len",
        "int",
        50,
        "Number of timesteps T (one-to-one always uses 1).",
        "sequence",
        low=1,
        high=2000,
        unit="steps",
        label="Sequence length T", not_applies=(("arch", ("one-to-one",)),), why_not="one-to-one uses T = 1",
        affects=_DATA, pinned=1,
    ),
    # The recall task's rule spans exactly this many steps: what a truncated-BPTT window must hold to learn it.
    Field(
        "lag", "int", 5, "The recall task's lag D: the answer at step t is the input of step t − D.", "sequence",
        low=1, high=1999, unit="steps", label="Recall lag D", applies=(("task", ("recall",)),),
        why_not="recall task only", affects=_DATA, pinned=5,
    ),
    Field(
        "tbptt",
        "int",
        0,
        "Truncated BPTT: the state is detached every this many steps, so no gradient travels back past a"
        " window's start (0: full backpropagation through time).",
        "sequence",
        low=0,
        high=2000,
        unit="steps",
        label="Truncated BPTT window k", affects=("trace", "training"),
        # The encoder-decoder's trace joins two modules; its windows are not cut.
        not_applies=(("arch", ("encoder-decoder",)),), why_not="not for the encoder–decoder", pinned=0,
    ),
    Field(
        "seed",
        "int",
        0,
        "Seed for weights and data: the same seed gives the same numbers.",
        "sequence",
        low=0,
        high=2**31 - 1,
        label="Seed", affects=("weights", "data", "trace"),
    ),
    # initialisation
    Field(
        "init",
        "choice",
        "pytorch",
        "How the weights are drawn before gain is applied.",
        "initialisation",
        choices=("pytorch", "orthogonal", "normal", "identity"),
        label="Initialisation", affects=_WEIGHTS, self_named=True,
    ),
    Field(
        "gain",
        "float",
        1.0,
        "Multiplies the recurrent weights W_hh after initialisation.",
        "initialisation",
        low=0.0,
        high=10.0,
        unit="×",
        label="Gain on W_hh", affects=_WEIGHTS,
    ),
    Field(
        "forget_bias",
        "float",
        0.0,
        "Added to the LSTM forget-gate bias (LSTM only).",
        "initialisation",
        low=-10.0,
        high=10.0,
        # A bias, not W_hh: the weight figures (eigenvalues, σ_max) stay as they are.
        label="Forget-gate bias", applies=(("cell", ("lstm",)),), why_not="LSTM only",
    ),
    # clipping
    Field(
        "clip",
        "choice",
        "none",
        "Gradient clipping: none, by total norm, or by value.",
        "clipping",
        choices=("none", "norm", "value"),
        label="Clipping", choice_labels=(("none", "none"), ("norm", "by total norm"), ("value", "by value")),
    ),
    Field(
        "clip_at",
        "float",
        1.0,
        "Clipping threshold (max total norm, or max absolute value).",
        "clipping",
        low=0.0,
        high=1e6,
        low_open=True,
        label="Clip threshold", not_applies=(("clip", ("none",)),), why_not="no clipping",
    ),
    # training
    Field(
        "optimizer", "choice", "adam", "Optimizer used when training.", "training", choices=("sgd", "adam", "rmsprop"),
        label="Optimizer", affects=("training",), self_named=True,
        choice_labels=(("sgd", "SGD"), ("adam", "Adam"), ("rmsprop", "RMSprop")),
    ),
    Field("lr", "float", 0.01, "Learning rate.", "training", low=1e-6, high=10.0, label="Learning rate",
          affects=("training",)),
    # The trace runs on one batch of batch_size sequences: it is the data's size, not a training-only key.
    Field("batch_size", "int", 16, "Sequences per batch.", "training", low=1, high=256, unit="sequences",
          label="Batch size N", affects=_DATA),
    Field("steps", "int", 500, "Optimizer steps when training.", "training", low=1, high=5000, unit="steps",
          label="Training steps", affects=("training",)),
)

FIELD_BY_NAME: dict[str, Field] = {f.name: f for f in FIELDS}

# Keys whose change draws another W_hh (the weight-figure cache's key), or another batch.
WEIGHT_KEYS: tuple[str, ...] = tuple(f.name for f in FIELDS if "weights" in f.affects)
DATA_KEYS: tuple[str, ...] = tuple(f.name for f in FIELDS if "data" in f.affects)
