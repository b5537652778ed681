// The sweep's figure: a norm flushed to 0 keeps the log axis and is marked on its floor, and a vanilla RNN's
// gradient at the first input step has its bound dotted beside it.
import assert from "node:assert/strict";
import { test } from "node:test";

globalThis.window = { matchMedia: () => ({ matches: false }) };
const { ZERO_TEXT, sweepFigure } = await import("../../static/js/view_sweep.js");
const { SweepPoints } = await import("../../static/js/sweep_state.js");

const START = { kind: "trace", key: "seq_len", values: [10, 20, 40], points: 6,
  series: [{ over: { cell: "rnn" } }, { over: { cell: "lstm" } }] };

function sweep(rnn, lstm) {
  const points = new SweepPoints(START);
  START.values.forEach((v, k) => {
    points.add({ series: 0, value: v, seed: 0, grad_first: rnn[k], ratio: rnn[k], bound_first: 0.5 * k + 0.5 });
    points.add({ series: 1, value: v, seed: 0, grad_first: lstm[k], ratio: lstm[k], bound_first: null });
  });
  return points;
}

test("a gradient flushed to exactly 0 keeps the log axis and sits on its floor, marked and labelled", () => {
  const f = sweepFigure(sweep([1e-3, 1e-8, 0], [0.05, 0.04, 0.03]), "grad_first", { type: "int" });
  assert.equal(f.layout.yaxis.type, "log");
  const zeros = f.traces.find((t) => t.name === ZERO_TEXT);
  const floor = zeros.y[0];
  assert.ok(10 ** f.layout.yaxis.range[0] < floor && floor < 1e-8); // inside the axis, under every other value
  const rnn = f.traces.find((t) => t.name === "cell = rnn");
  assert.deepEqual(rnn.y, [1e-3, 1e-8, floor]);
  assert.deepEqual([zeros.x, zeros.text], [[40], ["cell = rnn, seq_len = 40"]]);
  assert.deepEqual(f.layout.annotations.map((a) => a.text), ["▼ 0: below float32's normal range"]);
  const without = sweepFigure(sweep([1e-3, 1e-8, 1e-12], [0.05, 0.04, 0.03]), "grad_first", { type: "int" });
  assert.equal(without.layout.yaxis.type, "log");
  assert.deepEqual(without.layout.annotations, []);
  assert.equal(without.traces.find((t) => t.name === ZERO_TEXT), undefined);
});

test("the bound is dotted beside the RNN's first-step gradient only, in its colour", () => {
  const f = sweepFigure(sweep([1e-3, 1e-8, 1e-12], [0.05, 0.04, 0.03]), "grad_first", { type: "int" });
  const bounds = f.traces.filter((t) => t.line?.dash === "dot");
  assert.equal(bounds.length, 1);
  assert.match(bounds[0].name, /^cell = rnn: bound/);
  assert.deepEqual(bounds[0].y, [0.5, 1, 1.5]);
  assert.equal(bounds[0].line.color, f.traces.find((t) => t.name === "cell = rnn").line.color);
  assert.ok(10 ** f.layout.yaxis.range[1] > 1.5); // the window holds the bound too
  const ratio = sweepFigure(sweep([1e-3, 1e-8, 1e-12], [0.05, 0.04, 0.03]), "ratio", { type: "int" });
  assert.equal(ratio.traces.filter((t) => t.line?.dash === "dot").length, 0);
});
