// Views of one (layer, direction), unit by unit: hidden states h_t filling in
// as the forward pass runs, log10|∂L/∂h_t| filling in backwards from the
// loss, and the gates of the LSTM / GRU.

import { handoffMarks } from "./handoff.js";
import { LINE_COLOURS, log10Abs, specialCellsOverlay } from "./charts.js";
import { reduceColumns, screenLine, specialFirst } from "./envelope.js";
import { timeAxis } from "./view_norms.js";

// ColorBrewer RdBu (colour-blind safe), negative blue, positive red.
const RDBU = [
  [0, "#2166ac"], [0.125, "#4393c3"], [0.25, "#92c5de"], [0.375, "#d1e5f0"], [0.5, "#f7f7f7"],
  [0.625, "#fddbc7"], [0.75, "#f4a582"], [0.875, "#d6604d"], [1, "#b2182b"],
];
const AXIS = { zeroline: false, showgrid: false, linecolor: "#888", ticks: "outside", ticklen: 4 };
// Gates squashed by tanh are signed; the others are sigmoids in (0, 1).
const SIGNED_GATES = new Set(["cell", "new"]);

function unitAxis(H, extra = {}) {
  return { ...AXIS, title: { text: "hidden unit", standoff: 4 }, range: [-0.5, H - 0.5], autorange: false, ...extra };
}

function units(H) {
  return Array.from({ length: H }, (_, h) => h);
}

function steps(T) {
  return Array.from({ length: T }, (_, t) => t);
}

/**
 * A heatmap's cells at the resolution of the screen: at most one column a device pixel (envelope.js), painted as an
 * image of one pixel a cell that the browser scales (zsmooth "fast"), instead of a rectangle a cell drawn at the
 * plot's size and encoded as a PNG on every repaint.  `rows` are the values the overlay of special cells reads.
 */
function atScreen(chart, z, rows, T, y) {
  const cols = chart.columns();
  const main = reduceColumns(z, steps(T), cols);
  const special = rows && specialCellsOverlay(reduceColumns(rows, steps(T), cols, specialFirst).rows, main.x, y);
  return { cells: { x: main.x, y, z: main.rows, zsmooth: "fast" }, special: special && { ...special, zsmooth: "fast" } };
}

/** A line over the steps at the resolution of the screen: its min–max envelope (envelope.js), as typed arrays. */
function lineAtScreen(chart, y) {
  return screenLine(steps(y.length), y, chart.columns());
}

/** Largest finite |value| of an array (for a symmetric colour range that stays put during playback). */
function maxAbs(arr, count) {
  let m = 0;
  for (let i = 0; i < count; i++) {
    const a = Math.abs(arr[i]);
    if (a > m && a !== Infinity) m = a;
  }
  return m;
}

/** Hidden states h_t of one layer and direction, units × time, first `shown` steps. */
export function drawHidden(chart, trace, l, d, shown) {
  const rows = trace.unitsByTime("hidden", l, d, 0, shown);
  // tanh keeps h in (-1, 1); a ReLU RNN's h can grow without limit, so it is shown
  // on a signed log scale, sign(h)·log10(1 + |h|), where growth stays visible.
  const bounded = trace.config.cell !== "rnn" || trace.config.nonlinearity === "tanh";
  const squash = bounded ? (v) => v : (v) => Math.sign(v) * Math.log10(1 + Math.abs(v));
  const z = rows.map((r) => r.map((v) => (v === null || !Number.isFinite(v) ? null : squash(v))));
  const largest = maxAbs(trace.arrays.hidden, trace.forwardCount * trace.block);
  // The colour range follows the largest |h| (so small LSTM states are not washed out) and stays put while playing.
  const m = Math.max(1e-6, bounded ? Math.min(1, largest) : squash(largest));
  const { cells, special } = atScreen(chart, z, onlyNonFinite(rows), trace.T, units(trace.H));
  const data = [{
    type: "heatmap", ...cells, zmin: -m, zmax: m, colorscale: RDBU, hoverongaps: false,
    colorbar: { title: { text: bounded ? "h_t" : "sign·log₁₀(1+|h|)", side: "right" }, thickness: 12 },
    hovertemplate: bounded ? "t = %{x}, unit %{y}<br>h = %{z:.3f}<extra></extra>"
      : "t = %{x}, unit %{y}<br>sign·log₁₀(1+|h|) = %{z:.2f}<extra></extra>",
  }];
  if (special) data.push(special);
  chart.draw(data, { xaxis: timeAxis(trace.T), yaxis: unitAxis(trace.H), ...handoffMarks(trace.start) });
}

// Zeros are ordinary hidden values; only inf / NaN need marking there.
function onlyNonFinite(rows) {
  return rows.map((r) => r.map((v) => (v === 0 ? 1 : v)));
}

/** log10 |∂L/∂h_t| of one layer and direction, revealed from t = T-1 down to T-shown. */
export function drawGradUnits(chart, trace, l, d, shown) {
  const { T, H } = trace;
  const reached = trace.reached(l, d);
  // Columns the loss never reaches are left blank rather than flagged as underflow.
  const rows = trace.unitsByTime("grad_h", l, d, T - shown, T).map((r) => r.map((v, t) => (reached[t] ? v : null)));
  const z = rows.map((r) => r.map((v) => (v === null ? null : log10Abs(v))));
  // Colour range from every value received so far, so it does not shift while playing.
  let lo = Infinity;
  let hi = -Infinity;
  const arr = trace.arrays.grad_h;
  const off = (l * trace.D + d) * H;
  for (let t = T - trace.backwardCount; t < T; t++) {
    for (let h = 0; h < H; h++) {
      const v = log10Abs(arr[t * trace.block + off + h]);
      if (v === null) continue;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
  }
  if (lo === Infinity) [lo, hi] = [-8, 0];
  if (hi - lo < 1) lo = hi - 1;
  const { cells, special } = atScreen(chart, z, rows, T, units(H));
  const data = [{
    type: "heatmap", ...cells, zmin: lo, zmax: hi, colorscale: "Viridis", hoverongaps: false,
    colorbar: { title: { text: "log₁₀|∂L/∂h|", side: "right" }, thickness: 12 },
    hovertemplate: "t = %{x}, unit %{y}<br>log₁₀|∂L/∂h| = %{z:.2f}<extra></extra>",
  }];
  if (special) data.push(special);
  chart.draw(data, { xaxis: timeAxis(T), yaxis: unitAxis(H), ...handoffMarks(trace.start) });
}

/**
 * The gates of one layer and direction: a units × time heatmap per gate
 * (stacked, sharing the t axis) and their mean over units per step below.
 */
export function drawGates(chart, trace, l, d, shown, backShown = 0) {
  const gates = trace.gateNames;
  const { T, H } = trace;
  const y = units(H);
  const n = gates.length;
  const gap = 0.035;
  // The mean-value panel takes the bottom quarter, gate heatmaps share the rest.
  const meanTop = 0.24;
  const band = (1 - meanTop - gap * n) / n;
  const layout = { margin: { l: 64, r: 16, t: 8, b: 64 }, annotations: [],
    // Plotly 4 draws a broken legend path for lines with no points yet.
    showlegend: shown > 0,
    legend: { orientation: "h", x: 0, y: -0.1, yanchor: "top", xanchor: "left", font: { size: 12 } } };
  const data = [];
  let shownSigmoidBar = false;
  let shownSignedBar = false;
  gates.forEach((gate, i) => {
    const top = 1 - i * (band + gap);
    const axisId = i + 2; // y2, y3, ...
    const signed = SIGNED_GATES.has(gate);
    const rows = trace.unitsByTime(gate, l, d, 0, shown);
    const showBar = signed ? !shownSignedBar : !shownSigmoidBar;
    if (signed) shownSignedBar = true;
    else shownSigmoidBar = true;
    data.push({
      type: "heatmap", ...atScreen(chart, rows, null, T, y).cells, xaxis: "x", yaxis: `y${axisId}`, hoverongaps: false, showlegend: false,
      zmin: signed ? -1 : 0, zmax: 1, colorscale: signed ? RDBU : "Viridis", showscale: showBar, name: gate,
      colorbar: { title: { text: signed ? "tanh gate" : "σ gate", side: "right" }, thickness: 10,
        len: band * 1.6, y: top, yanchor: "top", x: 1.0, xpad: signed ? 4 : 4 },
      hovertemplate: `${gate} gate, t = %{x}, unit %{y}: %{z:.3f}<extra></extra>`,
    });
    layout[`yaxis${axisId}`] = unitAxis(H, { anchor: "x", domain: [top - band, top], title: { text: gate, standoff: 2 }, showticklabels: H > 1, tickfont: { size: 12 } });
  });
  gates.forEach((gate, i) => {
    data.push({
      type: "scatter", mode: "lines", ...lineAtScreen(chart, trace.gateMean(gate, l, d, 0, shown)), xaxis: "x", yaxis: "y",
      name: `mean ${gate}`, line: { color: LINE_COLOURS[i % LINE_COLOURS.length], width: 1.6 },
      hovertemplate: `mean ${gate}, t = %{x}: %{y:.3f}<extra></extra>`,
    });
  });
  // The memory path: ∏ of the mean forget (LSTM) / update (GRU) gates from t to the end,
  // revealed with the backward sweep, since that is the road the gradient takes.
  const product = trace.normSeries("gate_product", l, d, T - backShown, T);
  if (product.some((v) => v !== null && Number.isFinite(v))) {
    const which = trace.config.cell === "gru" ? "update" : "forget";
    data.push({
      type: "scatter", mode: "lines", ...lineAtScreen(chart, product), xaxis: "x", yaxis: "y", name: `∏ mean ${which} after t`,
      line: { color: "#000", width: 1.4, dash: "dot" },
      hovertemplate: `∏ mean ${which} gates after t = %{x}: %{y:.3g}<extra></extra>`,
    });
  }
  layout.xaxis = { ...timeAxis(T), anchor: "y" };
  const handoff = handoffMarks(trace.start);
  layout.shapes = [...(layout.shapes || []), ...handoff.shapes];
  layout.annotations.push(...handoff.annotations);
  layout.yaxis = { zeroline: true, zerolinecolor: "#ccc", gridcolor: "#eee", domain: [0, meanTop - 0.04], range: [-1.05, 1.05],
    autorange: false, title: { text: "mean", standoff: 2 }, tickvals: [-1, 0, 1] };
  chart.draw(data, layout);
}
