"""Compare mode as slide material: files holding every setting, a slide PNG, the layer/direction choice, what
clipping does, and the form's suggestions in the table's words.

References: POST /api/trace of each compared config (the server's plain trace), and for clipping the engine's model
and batch put through PyTorch's own clip_grad_norm_ and an SGD step.
"""

from __future__ import annotations

import csv
import io
import json
import math
import struct
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import torch

from engine import Config
from engine.data import task_loss
from engine.lab.experiment import prepare
from tests.e2e.harness import plot
from tests.e2e.test_compare import COMPARE_DONE, TABLE, api_trace

LESSONS = Path(__file__).parents[2] / "engine" / "lessons" / "lessons.json"
# The boxes of the compare chart's y title and y tick labels, in page pixels.
Y_BOXES = """() => { const el = document.getElementById('chart-compare-norms');
  const box = (n) => { const r = n.getBoundingClientRect(); return [r.left, r.right]; };
  return { title: box(el.querySelector('.g-ytitle text')),
           ticks: [...el.querySelectorAll('.yaxislayer-above .ytick text')].map(box) }; }"""
# Keeps the next slide PNG's announcement (its layout and legend names) where the test can read it.
SLIDE = """() => window.addEventListener('gfl:slide-png', e => (window.slideSeen = e.detail), { once: true })"""


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def download(page, selector: str):
    with page.expect_download() as dl:
        page.click(selector)
    return dl.value


def title_clear_of_ticks(page) -> None:
    boxes = page.evaluate(Y_BOXES)
    assert boxes["ticks"], "no tick labels drawn"
    assert boxes["title"][1] <= min(left for left, _ in boxes["ticks"]), boxes


def test_compare_files_and_png_hold_every_setting(page, server_url):
    page.set_viewport_size({"width": 1280, "height": 720})
    page.goto(server_url + "/?seq_len=30&cmp_b=cell:lstm&cmp_c=cell:gru")
    page.wait_for_function(COMPARE_DONE, arg=3)
    title_clear_of_ticks(page)  # 10⁻²⁰-wide tick labels push the title out, never under it

    rows = list(csv.DictReader(io.StringIO(download(page, "#compare-csv").path().read_text())))
    assert [r["setting"] for r in rows] == ["A"] * 30 + ["B"] * 30 + ["C"] * 30
    assert rows[30]["label"] == "B: LSTM"
    for name, cell in zip("ABC", ["rnn", "lstm", "gru"]):
        want = api_trace(server_url, {"cell": cell, "seq_len": 30})["backward"]["grad_h_norm"][0][0]
        got = [float(r["grad_h_norm"]) for r in rows if r["setting"] == name]
        assert all(math.isclose(g, w, rel_tol=1e-6) for g, w in zip(got, want)), name

    doc = json.loads(download(page, "#compare-json").path().read_text())
    assert [(s["name"], s["config"]["cell"]) for s in doc["settings"]] == [("A", "rnn"), ("B", "lstm"), ("C", "gru")]
    assert doc["shown"] == "top layer, forward"

    page.evaluate(SLIDE)
    png = download(page, 'button[data-png="chart-compare-norms"]')
    assert png_size(png.path().read_bytes()) == (2560, 1440)
    detail = page.evaluate("() => window.slideSeen")
    layout = detail["layout"]
    assert detail["names"] == ["A: vanilla RNN", "B: LSTM", "C: GRU"]
    assert "‖∂L/∂h<sub>t</sub>‖ per setting" in layout["title"]["text"]
    assert "A: Cell = vanilla RNN" in layout["title"]["text"] and "B: LSTM" in layout["title"]["text"]
    assert min(layout["font"]["size"], layout["legend"]["font"]["size"], layout["yaxis"]["tickfont"]["size"]) >= 18
    assert page.log.errors == []


def test_compare_chart_shows_a_lower_layer_and_the_reverse_direction(page, server_url):
    # Many-to-many: a loss at every step, so the reverse direction carries a gradient at every step too.
    page.goto(server_url + "/?arch=many-to-many&seq_len=20&cmp_b=bidirectional:1&cmp_c=num_layers:3")
    page.wait_for_function(COMPARE_DONE, arg=3)
    refs = {n: api_trace(server_url, {"arch": "many-to-many", "seq_len": 20, **extra})["backward"]["grad_h_norm"]
            for n, extra in zip("ABC", [{}, {"bidirectional": True}, {"num_layers": 3}])}  # fmt: skip

    def lines():
        return {c["name"][0]: c["y"] for c in plot(page, "chart-compare-norms")["data"]}

    def close(got, want):
        return all((g is None and w == 0) or math.isclose(g, w, rel_tol=1e-6) for g, w in zip(got, want))

    assert close(lines()["C"], refs["C"][2][0])  # each setting's own top layer
    painted = page.evaluate("() => window.gfl.compare.lastPaint.at")
    page.select_option("#compare-pick", "top,1")  # the reverse direction: only B has one
    page.wait_for_function("t => window.gfl.compare.lastPaint.at > t", arg=painted)
    shown = lines()
    assert list(shown) == ["B"] and close(shown["B"], refs["B"][0][1])
    assert not close(shown["B"], refs["B"][0][0])
    assert "not drawn (no such layer or direction): A, C" in plot(page, "chart-compare-norms")["notes"]
    assert page.inner_text("#compare-pick-words") == "top layer, reverse"

    painted = page.evaluate("() => window.gfl.compare.lastPaint.at")
    page.select_option("#compare-pick", "0,0")  # layer 1, the bottom one
    page.wait_for_function("t => window.gfl.compare.lastPaint.at > t", arg=painted)
    shown = lines()
    assert close(shown["C"], refs["C"][0][0]) and not close(shown["C"], refs["C"][2][0])
    assert parse_qs(urlparse(page.url).query)["cmp_show"] == ["1"]
    page.reload()  # the link reopens the same choice
    page.wait_for_function(COMPARE_DONE, arg=3)
    assert page.input_value("#compare-pick") == "0,0" and lines() == shown
    assert page.log.errors == []


def engine_clipping(cfg: Config) -> tuple[float, float]:
    """‖g‖ after PyTorch's clip_grad_norm_ (when cfg clips by norm) on the engine's model and batch, and the size of
    the SGD step it makes."""
    model, batch = prepare(cfg)
    task_loss(model(batch.x), batch).backward()
    params = [p for p in model.parameters() if p.grad is not None]
    if cfg.clip == "norm":
        torch.nn.utils.clip_grad_norm_(params, cfg.clip_at)
    clipped = float(torch.nn.utils.get_total_norm([p.grad for p in params]))
    before = [p.detach().clone() for p in params]
    torch.optim.SGD(params, lr=cfg.lr).step()
    step = math.sqrt(sum(float(((p.detach() - b) ** 2).sum()) for p, b in zip(params, before)))
    return clipped, step


def test_clipping_columns_and_note_say_what_clipping_changes(page, server_url):
    page.goto(server_url + "/?seq_len=100&gain=3&optimizer=sgd&lr=0.05&cmp_b=clip:norm")
    page.wait_for_function(COMPARE_DONE, arg=2)
    a, b = (c["y"] for c in plot(page, "chart-compare-norms")["data"])
    assert a == b  # clipping comes after backpropagation: the same ∂L/∂h_t
    note = page.inner_text("#compare-clip-note")
    assert "∂L/∂h_t is computed first and is not touched" in note and "the step" in note
    table = page.evaluate(TABLE)
    for name, clip in zip("AB", ["none", "norm"]):
        clipped, step = engine_clipping(Config(seq_len=100, gain=3.0, optimizer="sgd", lr=0.05, clip=clip))
        assert math.isclose(float(table[name]["clipped"]), clipped, rel_tol=1e-5), name
        assert math.isclose(float(table[name]["step"]), step, rel_tol=1e-4), name
    assert float(table["B"]["clipped"]) < float(table["A"]["clipped"]) == float(table["A"]["norm"])
    assert math.isclose(float(table["B"]["clipped"]), 1.0, rel_tol=1e-5)  # the threshold, clip_at = 1
    assert page.locator("#compare-table thead th").all_inner_texts()[3] == "‖g‖ after clipping"
    assert page.log.errors == []


def test_form_speaks_labels_offers_the_lessons_forget_bias_and_warns_of_an_unlearnable_task(page, server_url):
    page.goto(server_url + "/?seq_len=20")
    page.click("#compare-toggle")
    keys = page.locator("#compare-form [name=key] option").all_inner_texts()
    assert "Forget-gate bias" in keys and "Clip threshold" in keys and "forget_bias" not in keys
    lesson = next(x for x in json.loads(LESSONS.read_text())["lessons"] if x["id"] == "lstm-cell-state")
    bias = lesson["link"]["forget_bias"]
    offer = page.inner_text("#compare-form .compare-suggest")
    assert f"Forget-gate bias {bias:g}" in offer and lesson["title"] in offer, offer
    page.click("#compare-form button[type=submit]")  # the default change: cell → LSTM, with the lesson's bias
    page.wait_for_function(COMPARE_DONE, arg=2)
    assert parse_qs(urlparse(page.url).query)["cmp_b"] == [f"cell:lstm,forget_bias:{bias:g}"]
    chip = page.inner_text('#compare-chips .chip[data-name="B"]')
    assert chip.startswith(f"B: LSTM, Forget-gate bias {bias:g}"), chip

    note = page.locator("#compare-train-note")  # the default task, random, has nothing to learn
    assert note.is_visible() and "cannot be learned" in note.inner_text()
    page.select_option('[name="task"]', "adding")  # a task that can be learned: the warning goes
    note.wait_for(state="hidden")
    assert page.log.errors == []
