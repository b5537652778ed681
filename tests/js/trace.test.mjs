// The trace store: frames in, arrays out, checked against values built independently here.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { divergenceAdvice, overflowAdvice, underflowAdvice } from "../../static/js/advice.js";
import { Schema } from "../../static/js/schema.js";
import { RunTrace } from "../../static/js/trace.js";

const table = JSON.parse(readFileSync(new URL("./fields.json", import.meta.url)));
const schema = new Schema(table.fields, table.link_version);

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
  const base = { ...schema.defaults(), cell: "rnn", clip: "none", clip_at: 1, gain: 1, forget_bias: 0, seq_len: 50 };
  assert.match(underflowAdvice(base, schema), /an LSTM or GRU/);
  assert.doesNotMatch(underflowAdvice({ ...base, cell: "lstm" }, schema), /LSTM or GRU/);
  assert.match(underflowAdvice({ ...base, cell: "lstm" }, schema), /forget-gate bias/);
  assert.doesNotMatch(underflowAdvice(base, schema), /forget-gate bias/, "the bias is the LSTM's only");
  assert.match(divergenceAdvice(base), /^Try clipping or a smaller learning rate\.$/);
  assert.doesNotMatch(divergenceAdvice({ ...base, clip: "norm" }), /Try clipping/);
  assert.match(divergenceAdvice({ ...base, clip: "norm", gain: 3 }), /a lower clip threshold than 1, a smaller learning rate or a smaller gain/);
});

test("advice offers a key only where the table lets it move: its range and when it applies", () => {
  const base = { ...schema.defaults(), cell: "rnn", nonlinearity: "relu", gain: 2, seq_len: 50 };
  const { min, max } = schema.field("gain");
  assert.match(underflowAdvice(base, schema), /a larger gain/);
  assert.doesNotMatch(underflowAdvice({ ...base, gain: max }, schema), /larger gain/, "gain is at the top of its range");
  assert.match(overflowAdvice(base, schema), /^Try a lower gain, tanh or a gated cell\.$/);
  assert.doesNotMatch(overflowAdvice({ ...base, gain: min }, schema), /lower gain/, "gain is at the bottom of its range");
  assert.match(underflowAdvice(base, schema), /a shorter sequence/);
  assert.doesNotMatch(underflowAdvice({ ...base, seq_len: schema.field("seq_len").min }, schema), /shorter sequence/);
  assert.doesNotMatch(underflowAdvice({ ...base, arch: "one-to-one" }, schema), /shorter sequence/, "one-to-one has T = 1");
  // The bounds are the table's, not numbers of the page's own: a wider gain range leaves room above 10.
  const wider = new Schema(table.fields.map((f) => (f.name === "gain" ? { ...f, max: 20 } : f)));
  assert.match(underflowAdvice({ ...base, gain: max }, wider), /a larger gain/);
});
