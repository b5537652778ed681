// A drag paints a figure on the canvas only when it differs from the drawn one in its numbers alone.
import assert from "node:assert/strict";
import { test } from "node:test";

import { figureShape, heldRanges } from "../../static/js/quick_paint.js";

const figure = ({ y = [1, 2, 3], range = [0, 1], colour = "#000", zmax = 1, title = "t" } = {}) => [
  [{ type: "scatter", mode: "lines", x: [0, 1, 2], y, line: { color: colour } },
    { type: "heatmap", z: [[0, 1]], zmin: 0, zmax, colorscale: "Viridis" }],
  { xaxis: { range: [-0.5, 2.5] }, yaxis: { type: "log", range, title: { text: title } }, datarevision: 3 },
];

test("figures differing in their numbers, axis ranges and colour ranges alone have one shape", () => {
  const a = figureShape(...figure());
  assert.equal(figureShape(...figure({ y: [5, 6, 7], range: [-3, 4], zmax: 9 })), a);
  const [traces, layout] = figure();
  assert.equal(figureShape(traces, { ...layout, xaxis: { ...layout.xaxis, dtick: 20, tick0: 0 } }), a); // ticks respaced
});

test("a figure with another style, title or trace has another shape", () => {
  const a = figureShape(...figure());
  assert.notEqual(figureShape(...figure({ colour: "#f00" })), a);
  assert.notEqual(figureShape(...figure({ title: "u" })), a);
  const [traces, layout] = figure();
  assert.notEqual(figureShape(traces.slice(0, 1), layout), a);
});

test("notes and shapes placed elsewhere on the axes keep the figure's shape; a shape of another extent does not", () => {
  const at = (x0, x1, y = 2) => [[], { annotations: [{ xref: "paper", yref: "y", x: 0.5, y, text: "0" }],
    shapes: [{ type: "line", xref: "x", yref: "paper", x0, x1, y0: 0, y1: 1 }] }];
  const a = figureShape(...at(49, 49));
  assert.equal(figureShape(...at(60, 60, -3)), a);
  assert.notEqual(figureShape(...at(60, 61)), a);
});

test("a drag's figure past the drawn ranges is drawn over ranges holding both, half as wide again where they grew", () => {
  const el = { _fullLayout: { yaxis: { range: [-6, 0] }, xaxis: { range: [-0.5, 49.5] } },
    _fullData: [{ type: "heatmap", zmin: -1, zmax: 1 }] };
  const [traces, layout] = heldRanges(el, [{ type: "heatmap", z: [[2]], zmin: -0.5, zmax: 2 }],
    { yaxis: { type: "log", range: [-4, 2], autorange: false }, xaxis: { range: [-0.5, 49.5], autorange: false },
      annotations: [] });
  assert.deepEqual(layout.yaxis.range, [-6, 2 + 8 / 2]); // grew at the top only
  assert.deepEqual(layout.xaxis.range, [-0.5, 49.5]);
  assert.deepEqual([traces[0].zmin, traces[0].zmax], [-1, 2 + 3 / 2]);
  assert.deepEqual(layout.annotations, []);
});
