// The sweep page's pure logic: the form read into a sweep body and back, the points gathered into curves (the mean
// over the seeds, their lowest and highest, booleans as fractions), and when an axis is logarithmic.

import assert from "node:assert/strict";
import { test } from "node:test";

import {
  NAMED, SweepPoints, axisType, curveName, formOf, magnitudeAxis, metricsFor, openingMetric, parseList, sweepBody,
} from "../../static/js/sweep_state.js";

const FIELDS = {
  seq_len: { name: "seq_len", type: "int" }, cell: { name: "cell", type: "choice" }, gain: { name: "gain", type: "float" },
  bidirectional: { name: "bidirectional", type: "bool" }, seed: { name: "seed", type: "int" },
};

test("the form's text becomes the sweep body the server reads, and back", () => {
  const form = { kind: "trace", key: "seq_len", values: "10, 20,40", over_key: "cell", over: "rnn, lstm", seeds: "0,1" };
  const body = sweepBody(form, { hidden_size: 8 }, FIELDS);
  assert.deepEqual(body, { config: { hidden_size: 8 }, key: "seq_len", values: [10, 20, 40], kind: "trace",
    over: { cell: ["rnn", "lstm"] }, seeds: [0, 1] });
  assert.deepEqual(formOf(body), { ...form, values: "10, 20, 40", seeds: "0, 1" });
  assert.deepEqual(sweepBody({ ...form, over_key: "" }, {}, FIELDS).over, undefined);
  assert.deepEqual(parseList("yes, 0", FIELDS.bidirectional), [true, false]);
  assert.deepEqual(parseList("10, x", FIELDS.seq_len), [10, "x"]); // the server names what is wrong with "x"
});

test("named settings, each a curve that sets several keys, are written in the form and read back", () => {
  const over = [{ name: "IRNN", set: { cell: "rnn", gain: 1.5, bidirectional: true } }, { name: "LSTM", set: { cell: "lstm" } }];
  const form = formOf({ key: "seq_len", values: [10], over, seeds: [0], kind: "train" });
  assert.equal(form.over_key, NAMED);
  assert.equal(form.over, "IRNN: cell=rnn, gain=1.5, bidirectional=true; LSTM: cell=lstm");
  assert.deepEqual(sweepBody(form, {}, FIELDS).over, over);
  // A setting's keys in the table's order, as the server writes them, whatever order its JSON came in.
  const sorted = [{ name: "IRNN", set: { bidirectional: true, cell: "rnn", gain: 1.5 } }];
  assert.equal(formOf({ key: "seq_len", values: [10], over: sorted }, ["cell", "gain", "bidirectional"]).over,
    "IRNN: cell=rnn, gain=1.5, bidirectional=true");
  // Whatever the text says is sent as it reads; the server names an unknown key or a bad value.
  assert.deepEqual(sweepBody({ ...form, over: "a: colour=red, gain=x" }, {}, FIELDS).over,
    [{ name: "a", set: { colour: "red", gain: "x" } }]);
});

test("the page opens on the link's view when the sweep's kind draws it, else on the kind's first metric", () => {
  assert.equal(openingMetric("train", "accuracy"), "accuracy");
  assert.equal(openingMetric("trace", "ratio"), "ratio");
  assert.equal(openingMetric("trace", "accuracy"), "grad_first");
  assert.equal(openingMetric("train", null), "final_loss");
});

test("a training sweep's accuracy is drawn with the task's baseline accuracy, and a named curve by its name", () => {
  const start = { kind: "train", key: "seq_len", values: [4], series: [{ over: { cell: "rnn", init: "identity" }, name: "IRNN" }],
    points: 2 };
  const points = new SweepPoints(start);
  points.add({ series: 0, value: 4, seed: 0, accuracy: 0.5, baseline_accuracy: 0.25, baseline: 2 });
  points.add({ series: 0, value: 4, seed: 1, accuracy: 1, baseline_accuracy: 0.25, baseline: 2 });
  const about = metricsFor("train").find((m) => m.name === "accuracy");
  const [irnn] = points.curves("accuracy", about.baseline);
  assert.deepEqual([irnn.mean, irnn.baseline, irnn.name], [[0.75], [0.25], "IRNN"]);
  assert.equal(curveName(irnn.over, "seq_len", irnn.name), "IRNN");
  assert.equal(curveName({ cell: "rnn" }, "seq_len"), "cell = rnn");
});

test("points gather into each curve's mean over the seeds and its band, value by value as they arrive", () => {
  const start = { kind: "train", key: "seq_len", values: [10, 20], series: [{ over: { cell: "rnn" } }, { over: { cell: "lstm" } }],
    points: 8 };
  const points = new SweepPoints(start);
  points.add({ series: 0, value: 10, seed: 0, final_loss: 1, learned: true, baseline: 2 });
  points.add({ series: 0, value: 10, seed: 1, final_loss: 3, learned: false, baseline: 2 });
  points.add({ series: 1, value: 10, seed: 0, final_loss: Infinity, learned: false, baseline: 2 });
  const [rnn, lstm] = points.curves("final_loss");
  assert.deepEqual([rnn.x, rnn.mean, rnn.lo, rnn.hi, rnn.seeds, rnn.baseline], [[10], [2], [1], [3], [2], [2]]);
  assert.deepEqual([lstm.mean, lstm.seeds], [[Infinity], [1]]);
  assert.deepEqual(points.curves("learned")[0].mean, [0.5]);
  assert.equal(points.done, 3);
  assert.equal(points.complete, false);
});

test("an axis is logarithmic only where positive finite values span two decades", () => {
  assert.equal(axisType([1e-3, 1, 10]), "log");
  assert.equal(axisType([1, 50]), "linear");
  assert.equal(axisType([0, 1e3]), "linear");
  assert.equal(axisType([1, Infinity, 1e4]), "linear");
});

test("a never-negative quantity keeps its log axis when some of it is exactly 0, flushed under float32's range", () => {
  assert.equal(magnitudeAxis([1e-3, 2e-3, 0]), "log");
  assert.equal(magnitudeAxis([1, 50]), "linear");
  assert.equal(magnitudeAxis([1e-3, 1, Infinity, NaN]), "log"); // overflows are marked at the top, not deciding
  assert.equal(magnitudeAxis([0, 0]), "linear");
  assert.equal(magnitudeAxis([-1, 0, 1e3]), "linear");
});

test("each kind draws its own metrics and a curve is named by its alternative", () => {
  assert.deepEqual(metricsFor("trace").map((m) => m.name),
    ["grad_first", "grad_last", "ratio", "loss", "total_norm", "total_norm_clipped"]);
  assert.deepEqual(metricsFor("train").map((m) => m.name), ["final_loss", "accuracy", "learned", "diverged"]);
  assert.equal(curveName({ cell: "gru" }, "seq_len"), "cell = gru");
  assert.equal(curveName({}, "gain"), "gain");
});
