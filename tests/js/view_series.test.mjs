// The series view's figure: the normalised values, and the windows exactly where the start frame puts them.
import assert from "node:assert/strict";
import { test } from "node:test";

globalThis.window = { matchMedia: () => ({ matches: false }) };
const { normalise, seriesFigure, seriesNote } = await import("../../static/js/view_series.js");

const ECHO = { type: "series_loaded", name: "price", length: 8, mean: 4, std: 2, sha256: "bb", values: [0, 2, 4, 6, 8, 6, 4, 2] };

test("the series is drawn normalised, as the server normalises it", () => {
  assert.deepEqual(normalise(ECHO), [-2, -1, 0, 1, 2, 1, 0, -1]);
  const { data, layout } = seriesFigure(ECHO, null);
  assert.equal(data.length, 1);
  assert.deepEqual(data[0].y, [-2, -1, 0, 1, 2, 1, 0, -1]);
  assert.match(layout.xaxis.title.text, /position/);
  assert.match(layout.yaxis.title.text, /normalised/);
  assert.match(seriesNote(ECHO, null), /z = \(value − 4\) \/ 2\. The batch's windows appear/);
});

test("each window's inputs and predicted next value sit at the positions given", () => {
  const windows = { starts: [3, 0], seq_len: 3 };
  const { data, layout } = seriesFigure(ECHO, windows);
  const [, inputs, next] = data;
  assert.deepEqual(inputs.x, [3, 4, 5, null, 0, 1, 2, null]);
  assert.deepEqual(inputs.y, [1, 2, 1, null, -2, -1, 0, null]);
  assert.deepEqual(next.x, [6, 3]);
  assert.deepEqual(next.y, [0, 1]);
  assert.deepEqual(layout.shapes.map((s) => [s.x0, s.x1]), [[2.5, 5.5], [-0.5, 2.5]]);
  assert.equal(layout.shapes[0].line.dash, "dash", "window 0, the unit views' sample, is outlined");
  assert.match(seriesNote(ECHO, windows), /2 window\(s\) of 3 steps .*\(from position 3\)/);
});
