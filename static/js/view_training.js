// The live training views: the loss (log) against the task's trivial baseline,
// with accuracy for classification tasks; the total gradient norm before and
// after clipping with the threshold and the clipped steps marked; and a
// training step × timestep heatmap of ‖∂L/∂h_t‖ from the periodic profiles.
// Each function draws one chart from the accumulated arrays of a TrainingRun.

import { LINE_COLOURS, OVERFLOW_COLOUR, decadeStep, fmtNum, integerTicks, layerLabel, specialCellsOverlay } from "./charts.js";

const AXIS = { zeroline: false, gridcolor: "#e6e6e6", linecolor: "#888", ticks: "outside", ticklen: 4 };
const BASELINE_COLOUR = "#555";
// Past this many clipped steps, markers would cost more than the chart: the clipped stretches are drawn as a line instead.
const MAX_CLIP_MARKERS = 400;

const positive = (v) => (Number.isFinite(v) && v > 0 ? v : null);

/** The x axis of every training chart: optimizer steps, the whole run always in view. */
export function stepAxis(total, title = "optimizer step") {
  return { ...AXIS, title: { text: title, standoff: 4 }, range: [0, Math.max(1, total) + 0.5], autorange: false,
    ...integerTicks(Math.max(1, total)) };
}

/** How the baseline is written on the chart, e.g. "always answer 1: 0.167". */
export function baselineLabel(base) {
  return base ? `${base.name}: ${fmtNum(base.loss)}` : "";
}

/** A horizontal line across the run as a trace, so it shows in the legend, the hover and the autorange. */
function hline(total, y, props) {
  return { type: "scatter", mode: "lines", x: [0, Math.max(1, total)], y: [y, y], hoverinfo: "skip", ...props };
}

/** Steps that are inf or NaN in `values`, placed at `top` with a warning marker. */
function nonFiniteMarkers(run, values, top, yaxis = "y") {
  const x = [];
  values.forEach((v, i) => {
    if (v !== null && !Number.isFinite(v)) x.push(run.step[i]);
  });
  if (!x.length) return null;
  return { type: "scatter", mode: "markers", x, y: x.map(() => top), yaxis, name: "inf / NaN", cliponaxis: false,
    marker: { symbol: "triangle-up", size: 10, color: OVERFLOW_COLOUR, line: { color: "#000", width: 0.5 } },
    hovertemplate: "step %{x}: inf / NaN<extra></extra>" };
}

/** A dotted vertical line where training diverged. */
function divergedShape(run) {
  if (run.divergedAt == null) return [];
  return [{ type: "line", xref: "x", yref: "paper", x0: run.divergedAt, x1: run.divergedAt, y0: 0, y1: 1,
    line: { color: OVERFLOW_COLOUR, width: 1.5, dash: "dot" } }];
}

/**
 * A log y axis with few, plain tick labels.  Over two decades or more, the powers of ten;
 * over less, Plotly would label digits alone ("7" for 0.7), so the ticks are chosen here:
 * 1-2-5 steps, or evenly spaced values when the whole range is within a factor of four.
 */
export function logAxis(title, values) {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (Number.isFinite(v) && v > 0) {
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
  }
  const axis = { ...AXIS, type: "log", title: { text: title, standoff: 4 }, exponentformat: "power" };
  if (lo === Infinity) return { ...axis, dtick: 1 };
  if (Math.log10(hi / lo) >= 2) return { ...axis, dtick: decadeStep(Math.log10(hi / lo) + 1) };
  const ticks = hi / lo < 4 ? linearTicks(lo, hi) : oneTwoFive(lo, hi);
  if (ticks.length < 2) return axis;
  return { ...axis, tickmode: "array", tickvals: ticks, ticktext: ticks.map((v) => fmtNum(v)) };
}

function oneTwoFive(lo, hi) {
  const out = [];
  for (let k = Math.floor(Math.log10(lo)) - 1; k <= Math.ceil(Math.log10(hi)); k++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** k;
      if (v >= lo / 1.2 && v <= hi * 1.2) out.push(Number(v.toPrecision(3)));
    }
  }
  return out;
}

function linearTicks(lo, hi) {
  const raw = (hi - lo) / 4 || lo / 10;
  const p = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw);
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi * 1.001; v += step) out.push(Number(v.toPrecision(6)));
  return out;
}

function logTop(values, extra = []) {
  let hi = -Infinity;
  for (const v of values) if (Number.isFinite(v) && v > hi) hi = v;
  for (const v of extra) if (Number.isFinite(v) && v > hi) hi = v;
  return hi === -Infinity ? 10 : hi * 3;
}

/**
 * Loss per step on a log axis with the baseline as a labelled line; for
 * classification, accuracy on a second axis (right) with the baseline's accuracy.
 * Trace 0 is always the loss.
 * @param {import('./charts.js').Chart} chart
 * @param {import('./training_run.js').TrainingRun} run
 */
export function drawLoss(chart, run) {
  const total = run.total;
  const base = run.baseline;
  const data = [{
    type: "scatter", mode: "lines", x: run.step, y: run.loss.map(positive), name: "loss",
    line: { color: LINE_COLOURS[0], width: 2 }, hovertemplate: "step %{x}: loss %{y:.4g}<extra></extra>",
  }];
  const annotations = [];
  if (base && positive(base.loss)) {
    data.push(hline(total, base.loss, { name: `baseline (${baselineLabel(base)})`, showlegend: false,
      line: { color: BASELINE_COLOUR, width: 1.5, dash: "dash" } }));
    annotations.push({ xref: "paper", x: 1, xanchor: "right", yref: "y", y: Math.log10(base.loss), yanchor: "bottom",
      text: baselineLabel(base), showarrow: false, font: { size: 12, color: BASELINE_COLOUR }, bgcolor: "#fff",
      bordercolor: "#bbb", borderwidth: 1, borderpad: 2 });
  }
  const bad = nonFiniteMarkers(run, run.loss, logTop(run.loss, base ? [base.loss] : []));
  if (bad) data.push(bad);
  const layout = {
    xaxis: stepAxis(total),
    yaxis: logAxis("loss (log)", base ? [...run.loss, base.loss] : run.loss),
    showlegend: run.classification,
    legend: { orientation: "h", x: 0, y: 1.0, yanchor: "bottom", font: { size: 12 } },
    margin: { t: run.classification ? 26 : 8, r: run.classification ? 48 : 16 },
    annotations, shapes: divergedShape(run),
  };
  if (run.classification) {
    const chance = base && Number.isFinite(base.metric) ? ` (baseline ${fmtNum(100 * base.metric)}%)` : "";
    data.push({ type: "scatter", mode: "lines", x: run.step, y: run.metric.map((m) => (m == null ? null : 100 * m)),
      name: `accuracy${chance}`, yaxis: "y2", line: { color: LINE_COLOURS[2], width: 1.5 },
      hovertemplate: "step %{x}: accuracy %{y:.1f}%<extra></extra>" });
    layout.yaxis2 = { ...AXIS, overlaying: "y", side: "right", range: [0, 100], autorange: false,
      title: { text: "accuracy", standoff: 2 },
      showgrid: false, tickmode: "array", tickvals: [0, 25, 50, 75, 100], ticktext: ["0", "25%", "50%", "75%", "100%"] };
  }
  chart.draw(data, layout);
}

/**
 * ‖g‖ before and after clipping on a log axis, the clip threshold (clip = norm)
 * and the steps where clipping changed the gradient.
 */
export function drawGradNorm(chart, run) {
  const total = run.total;
  const data = [{
    type: "scatter", mode: "lines", x: run.step, y: run.gradNorm.map(positive), name: "‖g‖ before clipping",
    line: { color: LINE_COLOURS[1], width: 1.5 }, hovertemplate: "step %{x}: ‖g‖ %{y:.3g}<extra>before clipping</extra>",
  }];
  if (run.clip !== "none") {
    data.push({ type: "scatter", mode: "lines", x: run.step, y: run.gradClipped.map(positive), name: "after clipping",
      line: { color: LINE_COLOURS[0], width: 1.5, dash: "dash" },
      hovertemplate: "step %{x}: ‖g‖ %{y:.3g}<extra>after clipping</extra>" });
  }
  if (run.clip === "norm" && positive(run.clipAt)) {
    data.push(hline(total, run.clipAt, { name: `clip at ${fmtNum(run.clipAt)}`,
      line: { color: BASELINE_COLOUR, width: 1.2, dash: "dot" } }));
  }
  const n = run.clip === "none" ? 0 : run.clippedCount;
  if (n) {
    const many = n > MAX_CLIP_MARKERS;
    const x = [];
    const y = [];
    run.clipped.forEach((c, i) => {
      if (c || many) {
        x.push(run.step[i]);
        y.push(c ? positive(run.gradNorm[i]) : null);
      }
    });
    data.push({ type: "scatter", mode: many ? "lines" : "markers", x, y, name: `clipped (${n} of ${run.step.length} steps)`,
      marker: { color: OVERFLOW_COLOUR, size: 5, symbol: "circle" }, line: { color: OVERFLOW_COLOUR, width: 3 },
      hovertemplate: "step %{x}: clipped<extra></extra>" });
  }
  const bad = nonFiniteMarkers(run, run.gradNorm, logTop(run.gradNorm, [run.clipAt]));
  if (bad) data.push(bad);
  chart.draw(data, {
    xaxis: stepAxis(total),
    yaxis: logAxis("‖g‖ (log)", [...run.gradNorm, ...run.gradClipped, run.clip === "norm" ? run.clipAt : NaN]),
    showlegend: true,
    legend: { orientation: "h", x: 0, y: 1.0, yanchor: "bottom", font: { size: 12 } },
    margin: { t: 26 }, shapes: divergedShape(run),
  });
}

/**
 * Training step × timestep heatmap of log10 ‖∂L/∂h_t‖ for one layer and direction.
 * Zeros the loss never reached (structural, e.g. the reverse direction of a
 * many-to-one model) are gaps; other zeros and inf/NaN get the overlay colours.
 */
export function drawProfile(chart, run, l, d) {
  const { T, D } = run.shapes;
  const x = run.profileSteps;
  const rows = Array.from({ length: T }, () => new Array(x.length).fill(null));
  let lo = Infinity;
  let hi = -Infinity;
  run.profiles.forEach((p, j) => {
    const series = (p[l] && p[l][d]) || [];
    // Walk t in the order backpropagation visits it; zeros before the first non-zero are structure.
    let seen = false;
    for (let i = 0; i < T; i++) {
      const t = d === 0 ? T - 1 - i : i;
      const v = Number(series[t]);
      if (v !== 0) seen = true;
      rows[t][j] = seen ? v : null;
      if (Number.isFinite(v) && v > 0) {
        lo = Math.min(lo, v);
        hi = Math.max(hi, v);
      }
    }
  });
  const z = rows.map((r) => r.map((v) => (v !== null && Number.isFinite(v) && v > 0 ? Math.log10(v) : null)));
  const t = Array.from({ length: T }, (_, i) => i);
  const zmin = lo === Infinity ? -8 : Math.log10(lo);
  const zmax = hi === -Infinity ? 2 : Math.max(Math.log10(hi), zmin + 0.5);
  const data = [{
    type: "heatmap", x, y: t, z, colorscale: "Viridis", zmin, zmax, hoverongaps: false,
    colorbar: { title: { text: "log₁₀‖∂L/∂h_t‖", side: "right" }, thickness: 12, len: 1 },
    hovertemplate: "step %{x}, t = %{y}<br>log₁₀‖∂L/∂h_t‖ = %{z:.2f}<extra></extra>",
  }];
  const special = specialCellsOverlay(rows, x, t);
  if (special) data.push({ ...special, hovertemplate: "step %{x}, t = %{y}: %{customdata}<extra></extra>" });
  const annotations = [{ xref: "paper", yref: "paper", x: 0, y: 1, xanchor: "left", yanchor: "bottom", showarrow: false,
    text: `${layerLabel(l, d, D)}${run.shapes.L * D > 1 ? " (choose with Show)" : ""}`, font: { size: 12, color: "#333" } }];
  chart.draw(data, {
    xaxis: stepAxis(run.total, "optimizer step (profiled steps)"),
    yaxis: { ...AXIS, title: { text: "timestep t", standoff: 4 }, range: [-0.5, T - 0.5], autorange: false,
      ...integerTicks(T - 1) },
    margin: { t: 22, r: 8 }, annotations,
  });
}
