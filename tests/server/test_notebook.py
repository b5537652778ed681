"""docs/notebook.ipynb run in a real Jupyter kernel: its outputs carry the lab's views, and the numbers they
embed are the gradients a naive step-by-step autograd (tests/engine/reference.py) computes for the notebook's
own model, data and loss."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from tests.engine.reference import reference_gates, reference_trace
from tests.server.notebook_helpers import decode, displays, same_interpreter

pytest.importorskip("nbclient", reason="executing the notebook needs nbclient and ipykernel")
pytest.importorskip("ipykernel", reason="executing the notebook needs nbclient and ipykernel")
pytestmark = pytest.mark.timeout(900)

# float32 throughout (the notebook's model is a plain nn.LSTM): the fused kernel and the step-by-step cells
# sum in different orders.
RTOL = 1e-4


@pytest.fixture(scope="module")
def executed(executed_notebook):
    return executed_notebook  # tests/conftest.py: run once per session, also for tests/e2e/test_notebook_html.py


def html_outputs(nb) -> list[str]:
    return [o["data"]["text/html"] for c in nb.cells if c.cell_type == "code" for o in c.outputs
            if o.get("output_type") in ("execute_result", "display_data") and "text/html" in o.get("data", {})]


def reference(module, saved):
    """The notebook's loss on ``module``, step by step, from the saved head, inputs and target."""
    head, x, y = saved["head"], saved["x"], saved["y"]
    ref = reference_trace(module, x, lambda out: F.mse_loss(head(out[-1]), y))
    ref["grad_h_norm"] = ref["grad_h"].flatten(3).norm(dim=-1).numpy()  # (L, D, T) over batch and units
    return ref


def test_the_kernel_is_this_interpreter(executed):
    _, saved = executed
    assert same_interpreter(saved["executable"]), saved["executable"]


def test_every_code_cell_ran_without_error(executed):
    nb, _ = executed
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not [o for o in cell.outputs if o.get("output_type") == "error"], cell.source


def test_outputs_carry_the_views(executed):
    nb, _ = executed
    blocks = [d for html in html_outputs(nb) for d in displays(html)]
    # the traced LSTM, then bias 0 against 3, then the lab's own trace of a link
    assert [len(sections) for _, sections in blocks] == [1, 2, 1]
    assert len({uid for uid, _ in blocks}) == 3, "each display has its own root id"
    assert [s["title"] for s in blocks[1][1]] == ["forget-gate bias 0", "forget-gate bias 3"]
    html = html_outputs(nb)
    # nbclient sends no cell id, so a re-run cannot be told from a new cell: each output carries Plotly (and
    # the views' script) and paints alone.
    assert all("plotly.js v" in h for h in html)
    assert all("window.GFLNotebook" in h for h in html)
    assert not re.search(r"<script[^>]+src=", "".join(html)), "nothing loaded from outside the output"


def close_per_step(got: np.ndarray, want, what: str) -> None:
    """Each step's vector of units within RTOL of the reference's, relative to that vector's size.

    A gradient falls by decades along t and single units can cancel to a few ulps, so each step is judged
    against its own scale rather than each unit against its own value."""
    want = np.asarray(want, dtype=np.float64)
    err = np.linalg.norm(got - want, axis=-1)
    scale = np.linalg.norm(want, axis=-1)
    assert np.all(err <= RTOL * scale), f"{what}: worst relative error {np.max(err / scale):.2e}"


def check_run(run: dict, module, saved):
    ref = reference(module, saved)
    np.testing.assert_allclose(run["series"]["grad_h_norm"], ref["grad_h_norm"], rtol=RTOL)
    np.testing.assert_allclose(run["series"]["grad_c_norm"], ref["grad_c"].flatten(3).norm(dim=-1).numpy(), rtol=RTOL)
    # The unit views show batch sample 0.
    close_per_step(run["grad_h"], ref["grad_h"][:, :, :, 0], "grad_h")
    close_per_step(run["forward"]["hidden"], ref["hidden"][:, :, :, 0], "hidden")
    close_per_step(run["forward"]["cell_state"], ref["cell_state"][:, :, :, 0], "cell_state")
    gates = reference_gates(module, ref, saved["x"])
    for name in ("input", "forget", "cell", "output"):
        close_per_step(run["forward"][name], gates[name][:, :, :, 0].detach(), name)
    assert run["done"]["loss"] == pytest.approx(ref["loss"], rel=1e-6)
    return ref


def test_the_embedded_numbers_are_the_models_gradients(executed):
    nb, saved = executed
    (_, first), (_, compare), _ = [d for html in html_outputs(nb) for d in displays(html)]
    run = decode(first[0]["units"])
    assert run["start"]["shapes"] == {"T": 40, "L": 1, "D": 1, "H": 16, "N": 8, "O": 0}
    assert run["start"]["gates"] == ["input", "forget", "cell", "output"]
    check_run(run, saved["lstm"], saved)
    for section, bias in zip(compare, (0.0, 3.0)):
        module = saved["variants"][bias]
        H = module.hidden_size
        assert torch.all(module.bias_ih_l0[H : 2 * H] + module.bias_hh_l0[H : 2 * H] == bias)
        check_run(decode(section["units"]), module, saved)


def test_the_printed_comparison_is_the_reference(executed):
    """The notebook's prose reads the printout: forget gates near one half at bias 0, nearly open at bias 3,
    and far more of the gradient reaching the first step with bias 3."""
    nb, saved = executed
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs
                   if o.get("output_type") == "stream")  # fmt: skip
    printed = {float(b): (float(f), float(r)) for b, f, r in re.findall(
        r"forget bias (\S+): mean forget gate (\S+), \|\|dL/dh_0\|\| / \|\|dL/dh_T-1\|\| = (\S+)", text)}
    assert set(printed) == {0.0, 3.0}, text
    ratios = {}
    for bias, (forget, ratio) in printed.items():
        module = saved["variants"][bias]
        ref = reference(module, saved)
        gates = reference_gates(module, ref, saved["x"])
        assert forget == pytest.approx(float(gates["forget"].mean()), abs=1e-4)
        norms = ref["grad_h_norm"][0, 0]
        assert ratio == pytest.approx(norms[0] / norms[-1], rel=1e-3)
        ratios[bias] = ratio
    assert 0.4 < printed[0.0][0] < 0.6 and printed[3.0][0] > 0.9
    assert ratios[3.0] > 1e3 * ratios[0.0]


def test_a_links_trace_in_the_notebook_is_the_pages_own(executed, client):
    """The notebook's last cell reads a link with parse_query and shows trace_config's trace of it: the numbers
    /api/trace answers for the same setting, which the page draws."""
    nb, _ = executed
    (_, [section]) = [d for html in html_outputs(nb) for d in displays(html)][2]
    run = decode(section["units"])
    page = client.post("/api/trace", json={"cell": "lstm", "seq_len": 40, "forget_bias": 3, "task": "adding"}).json()
    assert run["start"]["config"] == page["config"]
    page_norms = np.asarray(page["backward"]["grad_h_norm"], np.float32)  # float32 numbers, written as decimals
    np.testing.assert_array_equal(run["series"]["grad_h_norm"].astype(np.float32), page_norms)
    assert run["done"]["loss"] == page["done"]["loss"]
