// Views of the per-timestep gradient norms: ‖∂L/∂h_t‖ against t on a log axis
// (with ∂L/∂c_t for the LSTM, the theory's bound where the loss enters once, and one output's own gradient from
// the lag map when one is picked), and for stacked or bidirectional models a (layer, direction) × time heatmap of
// the same norms.

import { handoffMarks } from "./handoff.js";
import {
  LINE_COLOURS, OVERFLOW_COLOUR, UNDERFLOW_COLOUR, clampForLog, finiteRange, fmtNum, integerTicks, layerLabel,
  logWindow, specialCellsOverlay,
} from "./charts.js";
import { reduceColumns, screenLine, specialFirst } from "./envelope.js";
import { gateProductOverlay } from "./view_theory.js";

const AXIS = { zeroline: false, gridcolor: "#e6e6e6", linecolor: "#888", ticks: "outside", ticklen: 4 };

/** The t axis shared by every view: integer timesteps, the whole sequence always visible. */
export function timeAxis(T, title = "timestep t") {
  return { ...AXIS, title: { text: title, standoff: 6 }, range: [-0.5, T - 0.5], autorange: false,
    ...integerTicks(T - 1) };
}

/** Every received norm (and the revealed ones), used to fix the y axis so it does not jump during playback. */
function allNorms(trace, sources = [trace.gradHNorm, trace.gradCNorm]) {
  const vals = [];
  const take = (src) => {
    if (!src) return;
    for (let t = trace.T - trace.backwardCount; t < trace.T; t++) {
      for (let k = 0; k < trace.L * trace.D; k++) vals.push(src[t * trace.L * trace.D + k]);
    }
  };
  sources.forEach(take);
  return vals;
}

const WINDOW_COLOUR = "#7b3294";
// Past this many windows the boundary lines would be a solid band; the legend still names the window.
const MAX_WINDOW_LINES = 80;

/**
 * Where truncated BPTT windows of k steps start, for direction d, skipping the first window's own start:
 * the forward direction's at t = k, 2k, …; the reverse direction's, which start at its own first step
 * T−1, at T−1−k, T−1−2k, ….  The cut lies between such a t and the step backprop would go to next.
 */
export function windowStarts(T, k, d) {
  const out = [];
  if (!(k > 0)) return out;
  for (let j = k; j < T; j += k) out.push(d === 0 ? j : T - 1 - j);
  return out;
}

/**
 * trace.reached(l, d), restarted at every truncation window: a zero in a window the gradient never
 * entered is the cut's doing (structure), not underflow.
 */
function reachedInWindows(trace, l, d, k) {
  const reached = trace.reached(l, d);
  if (!(k > 0)) return reached;
  const { T, L, D } = trace;
  const out = new Array(T).fill(false);
  let seen = false;
  for (let i = 0; i < T; i++) {
    // Backprop visits each direction's processing steps p = T−1 … 0; it enters a window at its last step.
    const p = T - 1 - i;
    if ((p + 1) % k === 0) seen = false;
    const t = d === 0 ? p : T - 1 - p;
    const j = t * L * D + l * D + d;
    const received = t >= T - trace.backwardCount;
    if (received && (trace.gradHNorm[j] !== 0 || (trace.gradCNorm && trace.gradCNorm[j] !== 0))) seen = true;
    out[t] = seen && reached[t];
  }
  return out;
}

/** Dotted vertical lines where each direction's tbptt windows start, and a legend entry naming them. */
function windowMarks(trace) {
  const k = trace.config.tbptt || 0;
  const { T, D } = trace;
  if (!(k > 0) || k >= T) return { shapes: [], data: [] };
  const shapes = [];
  const dashes = ["dot", "dashdot"];
  for (let d = 0; d < D; d++) {
    const starts = windowStarts(T, k, d);
    if (starts.length > MAX_WINDOW_LINES) continue;
    for (const t of starts) {
      // Between the window's first step and the step just before it in this direction's order.
      const x = d === 0 ? t - 0.5 : t + 0.5;
      shapes.push({ type: "line", xref: "x", yref: "paper", x0: x, x1: x, y0: 0, y1: 1,
        line: { color: WINDOW_COLOUR, width: 1.2, dash: dashes[d] } });
    }
  }
  const data = Array.from({ length: D }, (_, d) => ({
    type: "scatter", mode: "lines", x: [null], y: [null], hoverinfo: "skip", legendgroup: "tbptt",
    name: `tbptt window, ${k} step${k === 1 ? "" : "s"}` + (D === 2 ? (d === 0 ? " (forward)" : " (reverse)") : ""),
    line: { color: WINDOW_COLOUR, width: 1.2, dash: dashes[d] },
  }));
  return { shapes, data };
}

/**
 * ‖∂L/∂h_t‖ per layer and direction, revealed from t = T-1 down to T-shown.
 * Colour says which layer and direction, dash says h (solid) or c (dashed),
 * dotted is the theory's bound.  Exact zeros and inf/NaN sit at the edges of
 * the log axis with their own markers; zeros the loss never reached are gaps.
 * With truncated BPTT (config tbptt = k) dotted lines mark where each window starts: no gradient
 * crosses them, and the zeros beyond a cut are gaps too.
 * The bound, (γ·σ_max)^distance from the last step, is drawn only where the loss enters once: with a loss at every
 * step it bounds nothing shown here (the lag map's curve carries it).
 * Returns a note for under the chart ('' when there is nothing to add).
 * @param {import('./charts.js').Chart} chart
 * @param {import('./trace.js').RunTrace} trace
 * @param {number} shown  backward steps revealed so far
 * @param {{s: number, name: string, y: Array<number|null>}|null} row  one output's own gradient over t (a row of
 *   the lag map; null where it has not reached t), drawn over the norms
 */
export function drawGradNorms(chart, trace, shown, row = null) {
  const { T, L, D } = trace;
  const x = Array.from({ length: T }, (_, t) => t);
  const range = finiteRange([...allNorms(trace), ...(row ? row.y : [])]);
  const manyLosses = (trace.start.scored_steps || []).length > 1;
  // Room for the bound where it rises above the gradient (η > 1), up to four decades.
  const bounds = finiteRange(allNorms(trace, [trace.bound]));
  if (range && bounds) range.hi = Math.max(range.hi, Math.min(bounds.hi, range.hi * 1e4));
  const win = range ? logWindow(range) : { floor: 1e-1, ceil: 1e1 };
  const from = T - shown;
  const data = [];
  const overs = { x: [], y: [], text: [] };
  const zeros = { x: [], y: [], text: [] };
  let structural = false;
  let truncated = false;
  const k = trace.config.tbptt || 0;
  const cols = chart.columns();
  for (let l = 0; l < L; l++) {
    for (let d = 0; d < D; d++) {
      const colour = LINE_COLOURS[(l * D + d) % LINE_COLOURS.length];
      const name = L * D > 1 ? layerLabel(l, d, D) : "";
      const plain = trace.reached(l, d);
      const reached = reachedInWindows(trace, l, d, k);
      const series = [["h", "solid", "‖∂L/∂h_t‖"]];
      if (trace.gradCNorm) series.push(["c", "dash", "‖∂L/∂c_t‖"]);
      for (const [which, dash, label] of series) {
        const raw = trace.normSeries(which, l, d, from, T).map((v, t) => {
          if (v === 0 && !reached[t]) {
            if (plain[t]) truncated = true;
            else structural = true;
            return null;
          }
          return v;
        });
        const c = clampForLog(raw, win.floor, win.ceil);
        const what = `${label}${name ? " " + name : ""}`;
        data.push({
          type: "scatter", mode: "lines", ...screenLine(x, c.y, cols), name: name || (row ? `${label}: every output's together` : label),
          legendgroup: `${l},${d}`, showlegend: which === "h" && (L * D > 1 || !!trace.gradCNorm || !!row),
          line: { color: colour, width: 2, dash },
          hovertemplate: `${what}<br>t = %{x}: %{y:.3e}<extra></extra>`,
        });
        const lone = isolated(c.y);
        if (lone.length) {
          data.push({ type: "scatter", mode: "markers", x: lone, y: lone.map((i) => c.y[i]), showlegend: false,
            legendgroup: `${l},${d}`, marker: { color: colour, size: 6 }, hovertemplate: `${what}<br>t = %{x}: %{y:.3e}<extra></extra>` });
        }
        for (const i of c.overs) mark(overs, i, win.ceil, `${what}, t = ${i}: ${fmtNum(raw[i])}`);
        for (const i of c.zeros) mark(zeros, i, win.floor, `${what}, t = ${i}: exactly 0`);
      }
      const b = trace.normSeries("bound", l, d, from, T).map((v) => (Number.isFinite(v) && v > 0 ? v : null));
      if (!manyLosses && b.some((v) => v !== null)) {
        // A lone value (one-to-one: a single step) has no neighbour to draw a line to: mark it, so that the
        // legend never names a bound the chart does not show.
        data.push({
          type: "scatter", mode: isolated(b).length ? "lines+markers" : "lines", ...screenLine(x, b, cols),
          marker: { color: colour, size: 9, symbol: "circle-open" }, name: "bound: (γ·σ<sub>max</sub>)<sup>distance</sup>", legendgroup: "bound",
          showlegend: l === 0 && d === 0, line: { color: colour, width: 1.2, dash: "dot" }, opacity: 0.8,
          hovertemplate: `bound${name ? " " + name : ""}<br>t = %{x}: %{y:.3e}<extra></extra>`,
        });
      }
    }
  }
  if (row) {
    const y = row.y.map((v, t) => (t >= from ? v : null));
    const c = clampForLog(y, win.floor, win.ceil);
    data.push({ type: "scatter", mode: "lines+markers", x, y: c.y, name: row.name, legendgroup: "row",
      line: { color: "#000", width: 2.4 }, marker: { size: x.map((t) => (t === row.s ? 9 : 0)), color: "#000" },
      hovertemplate: `${row.name}<br>t = %{x}: %{y:.3e}<extra></extra>` });
    for (const i of c.overs) mark(overs, i, win.ceil, `${row.name}, t = ${i}: ${fmtNum(y[i])}`);
    for (const i of c.zeros) mark(zeros, i, win.floor, `${row.name}, t = ${i}: exactly 0`);
  }
  // LSTM / GRU: the product of the forget / update gates, the path the memory (and its gradient) takes.
  const memory = gateProductOverlay(trace, from);
  data.push(...memory.data);
  // Hundreds of SVG markers would cost more than the rest of the chart: past
  // MAX_MARKERS the line (already drawn at the clamp) carries them, marked at intervals.
  thin(overs);
  thin(zeros);
  if (overs.x.length) {
    data.push({
      type: "scatter", mode: "markers", ...overs, name: "inf / NaN", hovertemplate: "%{text}<extra>overflow</extra>",
      marker: { symbol: "triangle-up", size: 9, color: OVERFLOW_COLOUR, line: { color: "#000", width: 0.5 } },
    });
  }
  if (zeros.x.length) {
    data.push({
      type: "scatter", mode: "markers", ...zeros, name: "exactly 0", hovertemplate: "%{text}<extra>underflow</extra>",
      marker: { symbol: "triangle-down-open", size: 8, color: UNDERFLOW_COLOUR, line: { width: 1.5 } },
    });
  }
  const annotations = [];
  const shapes = [];
  if (overs.x.length) annotations.push(edgeLabel(win.ceil, range ? "▲ inf / NaN" : "▲ every value here is inf / NaN", OVERFLOW_COLOUR));
  if (zeros.x.length) annotations.push(edgeLabel(win.floor, "▼ exactly 0 (underflow)", UNDERFLOW_COLOUR));
  if (shown === 0) {
    annotations.push({ xref: "paper", yref: "paper", x: 0.5, y: 0.5, showarrow: false, font: { size: 13, color: "#666" },
      text: trace.forwardCount < T ? "forward pass: computing h₀ … h_T" : "the gradient flows back from the loss next" });
  }
  const scored = trace.start.scored_steps || [];
  if (scored.length && scored.length <= 24) {
    for (const t of scored) {
      shapes.push({ type: "line", xref: "x", yref: "paper", x0: t, x1: t, y0: 0, y1: 1, line: { color: "#bbb", width: 1, dash: "dot" } });
    }
  }
  const handoff = handoffMarks(trace.start);
  shapes.push(...handoff.shapes);
  annotations.push(...handoff.annotations);
  if (trace.gradCNorm) {
    // A legend entry for the dash style alone: colour already says which layer.
    data.push({ type: "scatter", mode: "lines", x: [null], y: [null], name: "‖∂L/∂c_t‖", line: { color: "#555", width: 2, dash: "dash" },
      hoverinfo: "skip" });
  }
  const windows = windowMarks(trace);
  data.push(...windows.data);
  shapes.push(...windows.shapes);
  const legend = data.some((tr) => tr.showlegend !== false && tr.name);
  const clip = clipNote(trace);
  // Above the legend's row, not beside it: on a narrow chart the two would overlap.
  if (clip) annotations.push({ xref: "paper", yref: "paper", x: 1, y: 1, xanchor: "right", yanchor: "bottom", text: clip,
    yshift: legend ? 30 : 0, showarrow: false, font: { size: 12, color: "#333" } });
  chart.draw(data, {
    xaxis: timeAxis(T),
    yaxis: { ...AXIS, type: "log", title: { text: "‖∂L/∂h_t‖", standoff: 4 },
      range: [Math.log10(win.floor) - 0.15, Math.log10(win.ceil) + 0.15], autorange: false, exponentformat: "power",
      // With no finite value at all the axis has no scale worth labelling; before the backward
      // sweep starts its scale would give the answer away ("predict, then press play").
      showticklabels: !!range && shown > 0 },
    showlegend: legend,
    legend: { orientation: "h", x: 0, y: 1.0, yanchor: "bottom", font: { size: 12 }, itemwidth: 30, tracegroupgap: 0 },
    ...memory.layout,
    margin: { t: (legend ? 26 : 8) + (clip ? (legend ? 28 : 18) : 0), ...memory.layout.margin },
    annotations, shapes,
  });
  const notes = [];
  if (manyLosses && !row && shown === T) {
    notes.push("Every step here has a loss of its own: ‖∂L/∂h_t‖ adds up what all of them send back, and the nearest "
      + "losses dominate it, so this line can look flat while each output's own gradient dies within a few steps. "
      + "The lag map below shows where each step's gradient comes from; pick an output there to draw its gradient here.");
  }
  if (structural) {
    notes.push("Gaps: ∂L/∂h_t is exactly 0 there because the loss does not depend on h_t at all "
      + "(e.g. the reverse direction of a many-to-one model); that is structure, not underflow.");
  }
  if (truncated) {
    notes.push(`Truncated BPTT: the state is detached every ${k} steps, so no gradient crosses a dotted line; `
      + "the gaps beyond one are the cut, not underflow.");
  }
  return notes.join(" ");
}

const MAX_MARKERS = 60;

/** One edge marker (a value clamped to the axis's floor or ceiling) with its hover text. */
function mark(points, x, y, text) {
  points.x.push(x);
  points.y.push(y);
  points.text.push(text);
}

function thin(points) {
  const n = points.x.length;
  if (n <= MAX_MARKERS) return;
  const keep = new Set(Array.from({ length: MAX_MARKERS }, (_, i) => Math.round((i * (n - 1)) / (MAX_MARKERS - 1))));
  for (const key of ["x", "y", "text"]) points[key] = points[key].filter((_, i) => keep.has(i));
}

/** Indices of values with no neighbour to draw a line to (a lone point vanishes in 'lines' mode). */
function isolated(y) {
  const out = [];
  for (let i = 0; i < y.length; i++) {
    if (y[i] !== null && (i === 0 || y[i - 1] === null) && (i === y.length - 1 || y[i + 1] === null)) out.push(i);
  }
  return out;
}

// On a log axis an annotation's y is given in log10 units.
export function edgeLabel(y, text, colour) {
  return { xref: "paper", yref: "y", x: 0.01, xanchor: "left", y: Math.log10(y), yanchor: "middle",
    text, showarrow: false, font: { size: 12, color: colour }, bgcolor: "rgba(255,255,255,0.85)" };
}

/** The clip threshold in words, once the run's totals are known. */
export function clipNote(trace) {
  const c = trace.config;
  if (c.clip === "none") return null;
  const done = trace.done;
  if (c.clip === "value") return `clip each |gᵢ| at ${fmtNum(c.clip_at)}` + (done ? `: ‖g‖ ${fmtNum(done.total_norm)} → ${fmtNum(done.total_norm_clipped)}` : "");
  if (!done) return `clip ‖g‖ at ${fmtNum(c.clip_at)}`;
  const active = done.clip_coef < 1;
  return `clip ‖g‖ at ${fmtNum(c.clip_at)}: ${fmtNum(done.total_norm)} → ${fmtNum(done.total_norm_clipped)}` +
    (active ? ` (× ${fmtNum(done.clip_coef)})` : " (not triggered)");
}

/** (layer, direction) × time heatmap of log10 ‖∂L/∂h_t‖; only meaningful when L·D > 1. */
export function drawLayerMap(chart, trace, shown) {
  const { T, L, D } = trace;
  const x = Array.from({ length: T }, (_, t) => t);
  const rows = [];
  const labels = [];
  for (let l = 0; l < L; l++) {
    for (let d = 0; d < D; d++) {
      const reached = trace.reached(l, d);
      rows.push(trace.normSeries("h", l, d, T - shown, T).map((v, t) => (v === 0 && !reached[t] ? null : v)));
      labels.push(layerLabel(l, d, D));
    }
  }
  const all = finiteRange(allNorms(trace));
  const z = rows.map((r) => r.map((v) => (v !== null && Number.isFinite(v) && v > 0 ? Math.log10(v) : null)));
  // At the resolution of the screen, as the unit views (view_units.js atScreen); the y axis is of categories.
  const cols = chart.columns();
  const cells = reduceColumns(z, x, cols);
  const data = [{
    type: "heatmap", x: cells.x, y: labels, z: cells.rows, zsmooth: "fast", colorscale: "Viridis", hoverongaps: false,
    zmin: all ? Math.log10(all.lo) : -8, zmax: all ? Math.log10(all.hi) : 2,
    colorbar: { title: { text: "log₁₀‖∂L/∂h_t‖", side: "right" }, thickness: 12, len: 1 },
    hovertemplate: "%{y}, t = %{x}<br>log₁₀‖∂L/∂h_t‖ = %{z:.2f}<extra></extra>",
  }];
  const special = specialCellsOverlay(reduceColumns(rows, x, cols, specialFirst).rows, cells.x, labels);
  if (special) data.push({ ...special, zsmooth: "fast" });
  chart.draw(data, {
    xaxis: timeAxis(T),
    yaxis: { ...AXIS, title: { text: "layer, direction" }, type: "category", autorange: "reversed", ticks: "" },
    margin: { l: 92, r: 8 },
    ...handoffMarks(trace.start),
  });
}
