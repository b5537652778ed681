// The trace store: frames in, arrays out, checked against values built independently here.
import assert from "node:assert/strict";
import { test } from "node:test";

import { divergenceAdvice, underflowAdvice } from "../../static/js/advice.js";
import { RunTrace } from "../../static/js/trace.js";

const shapes = { T: 3, L: 1, D: 2, H: 2 };
const start = { type: "start", run: 1, config: { cell: "rnn" }, shapes, layout: { forward: ["hidden"], backward: ["grad_h"] } };
const block = shapes.L * shapes.D * shapes.H;
// value(t, d, h) of array a: distinct for every cell, so a misplaced copy shows.
const value = (a, t, d, h) => a * 100 + t * 10 + d * 2 + h;

function payload(a, ts) {
  const out = new Float32Array(ts.length * block);
  ts.forEach((t, s) => { for (let d = 0; d < 2; d++) for (let h = 0; h < 2; h++) out[s * block + d * 2 + h] = value(a, t, d, h); });
  return out.buffer;
}

test("forward and backward payloads of several steps land at their timesteps", () => {
  const tr = new RunTrace(start, { trained: true });
  assert.equal(tr.trained, true);
  tr.addForward({ t: 0, binary_steps: 2 }, payload(1, [0, 1]));
  tr.addForward({ t: 1 }, null);
  tr.addForward({ t: 2, binary_steps: 1 }, payload(1, [2]));
  assert.equal(tr.forwardCount, 3);
  // Backward frames run from t = T-1 down; a payload of n steps holds t, t-1, ..
  tr.addBackward({ t: 2, binary_steps: 3, grad_h_norm: [[4, 5]] }, payload(2, [2, 1, 0]));
  tr.addBackward({ t: 1, grad_h_norm: [[2, NaN]] }, null);
  for (let t = 0; t < 3; t++) for (let d = 0; d < 2; d++) for (let h = 0; h < 2; h++) {
    assert.equal(tr.at("hidden", t, 0, d, h), value(1, t, d, h));
    assert.equal(tr.at("grad_h", t, 0, d, h), value(2, t, d, h));
  }
  assert.equal(tr.backwardCount, 2);
  assert.deepEqual(tr.normSeries("h", 0, 0), [NaN, 2, 4]);
  assert.ok(!tr.complete);
  assert.deepEqual(tr.extremes(), { overflow: 1, underflow: null }, "a NaN norm is an overflow once it has arrived");
  tr.done = { overflow_t: null, underflow_t: 0 };
  assert.deepEqual(tr.extremes(), { overflow: null, underflow: 0 }, "the server's verdict is final");
});

test("a hidden state that overflows marks the forward pass", () => {
  const tr = new RunTrace(start);
  const p = new Float32Array(payload(1, [0]));
  p[3] = Infinity;
  tr.addForward({ t: 0, binary_steps: 1 }, p.buffer);
  assert.equal(tr.forwardOverflowT, 0);
  assert.equal(tr.trained, false);
});

test("CSV has one row per step, layer and direction", () => {
  const tr = new RunTrace(start);
  tr.addBackward({ t: 2, grad_h_norm: [[1, Infinity]], bound: [[0.5, 0.5]] }, null);
  const lines = tr.toCSV().trim().split("\n");
  assert.equal(lines.length, 1 + 3 * 2);
  assert.equal(lines.at(-2), "2,0,forward,1,,0.5");
  assert.equal(lines.at(-1), "2,0,reverse,inf,,0.5");
  assert.equal(lines[1], "0,0,forward,nan,,nan", "a step not yet received is written as nan");
});

test("advice fits the model: no LSTM for an LSTM, no clipping for a run that clips", () => {
  const base = { cell: "rnn", clip: "none", clip_at: 1, gain: 1, forget_bias: 0, arch: "many-to-one", seq_len: 50 };
  assert.match(underflowAdvice(base), /an LSTM or GRU/);
  assert.doesNotMatch(underflowAdvice({ ...base, cell: "lstm" }), /LSTM or GRU/);
  assert.match(underflowAdvice({ ...base, cell: "lstm" }), /forget-gate bias/);
  assert.match(divergenceAdvice(base), /^Try clipping or a smaller learning rate\.$/);
  assert.doesNotMatch(divergenceAdvice({ ...base, clip: "norm" }), /Try clipping/);
  assert.match(divergenceAdvice({ ...base, clip: "norm", gain: 3 }), /a lower clip threshold than 1, a smaller learning rate or a smaller gain/);
});
