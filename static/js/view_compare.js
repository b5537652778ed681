// Compare mode's views: ‖∂L/∂h_t‖ against t of every compared setting on one
// log axis, their loss curves while training over the task's baseline, their lag curves (how far back each hears)
// while the lag map's view is open, and a table of the numbers that matter side by side.

import { LINE_COLOURS, OVERFLOW_COLOUR, UNDERFLOW_COLOUR, clampForLog, finiteRange, fmtNum, logWindow } from "./charts.js";
import { curveEntry, drawLagCurves } from "./view_lag.js";
import { baselineLabel, logAxis, stepAxis } from "./view_training.js";
import { edgeLabel, timeAxis } from "./view_norms.js";

const AXIS = { zeroline: false, gridcolor: "#e6e6e6", linecolor: "#888", ticks: "outside", ticklen: 4 };
const LEGEND = { orientation: "h", x: 0, y: 1.0, yanchor: "bottom", font: { size: 12 } };

export const COMPARE_COLOURS = [LINE_COLOURS[0], LINE_COLOURS[1], LINE_COLOURS[2]];

/** ‖∂L/∂h_t‖ of the top layer's forward direction, with zeros the loss never reached left out. */
export function topNorms(trace) {
  const l = trace.L - 1;
  const reached = trace.reached(l, 0);
  return trace.normSeries("h", l, 0).map((v, t) => (v === 0 && !reached[t] ? null : v));
}

/**
 * One line per setting: ‖∂L/∂h_t‖ (top layer, forward) against t, log axis.
 * @param {import('./charts.js').Chart} chart
 * @param {Array<{label: string, colour: string, trace: import('./trace.js').RunTrace}>} entries  complete traces only
 */
export function drawCompareNorms(chart, entries) {
  const series = entries.map((e) => topNorms(e.trace));
  const range = finiteRange(series.flat());
  const win = range ? logWindow(range) : { floor: 1e-1, ceil: 1e1 };
  const data = [];
  let over = false;
  let zero = false;
  let T = 1;
  entries.forEach((e, i) => {
    T = Math.max(T, e.trace.T);
    const c = clampForLog(series[i], win.floor, win.ceil);
    over ||= c.overs.length > 0;
    zero ||= c.zeros.length > 0;
    data.push({
      type: "scatter", mode: e.trace.T === 1 ? "markers" : "lines", x: series[i].map((_, t) => t), y: c.y, name: e.label,
      line: { color: e.colour, width: 2.2 }, marker: { color: e.colour, size: 7 },
      hovertemplate: `${e.label}<br>t = %{x}: %{y:.3e}<extra></extra>`,
    });
  });
  const annotations = [];
  if (over) annotations.push(edgeLabel(win.ceil, "▲ inf / NaN", OVERFLOW_COLOUR));
  if (zero) annotations.push(edgeLabel(win.floor, "▼ exactly 0 (underflow)", UNDERFLOW_COLOUR));
  if (!entries.length) {
    annotations.push({ xref: "paper", yref: "paper", x: 0.5, y: 0.5, showarrow: false, font: { size: 13, color: "#666" },
      text: "waiting for the runs…" });
  }
  chart.draw(data, {
    xaxis: timeAxis(T),
    yaxis: { ...AXIS, type: "log", title: { text: "‖∂L/∂h_t‖ (log)", standoff: 4 }, exponentformat: "power",
      range: [Math.log10(win.floor) - 0.15, Math.log10(win.ceil) + 0.15], autorange: false, showticklabels: !!range },
    showlegend: true, legend: LEGEND, margin: { t: 28 }, annotations,
  });
}

/**
 * One lag curve per setting (the top layer's forward direction), each with its bound (γ·σ_max)^k where the setting is
 * a vanilla RNN.
 * @param {Array<{label: string, colour: string, trace: import('./trace.js').RunTrace}>} entries  complete traces only
 */
export function drawCompareLag(chart, entries) {
  const curves = entries.filter((e) => e.trace.lag)
    .map((e) => curveEntry(e.trace.lag, e.trace.L - 1, 0, { theory: e.trace.theory, name: e.label, colour: e.colour }));
  drawLagCurves(chart, curves, { empty: "computing each setting's lag map…" });
}

/**
 * Every setting's loss per training step on a log axis, over the baseline
 * (one line per distinct baseline: settings with different data may have their own).
 * @param {Array<{label: string, colour: string, run: import('./training_run.js').TrainingRun}>} entries
 */
export function drawCompareLoss(chart, entries, steps = 1) {
  const data = [];
  const annotations = [];
  let total = entries.length ? 1 : steps;
  const baselines = new Map();
  for (const e of entries) {
    total = Math.max(total, e.run.total);
    data.push({
      type: "scatter", mode: "lines", x: e.run.step, y: e.run.loss.map((v) => (Number.isFinite(v) && v > 0 ? v : null)),
      name: e.label + (e.run.divergedAt != null ? ` (diverged at ${e.run.divergedAt})` : ""),
      line: { color: e.colour, width: 2 }, hovertemplate: `${e.label}<br>step %{x}: loss %{y:.4g}<extra></extra>`,
    });
    const b = e.run.baseline;
    if (b && Number.isFinite(b.loss) && b.loss > 0) baselines.set(`${b.name}|${b.loss}`, b);
  }
  for (const b of baselines.values()) {
    const text = baselineLabel(b);
    data.push({ type: "scatter", mode: "lines", x: [0, total], y: [b.loss, b.loss], name: `baseline (${text})`,
      showlegend: false, hoverinfo: "skip", line: { color: "#555", width: 1.5, dash: "dash" } });
    annotations.push({ xref: "paper", x: 1, xanchor: "right", yref: "y", y: Math.log10(b.loss), yanchor: "bottom", text,
      showarrow: false, font: { size: 12, color: "#555" }, bgcolor: "#fff", bordercolor: "#bbb", borderwidth: 1, borderpad: 2 });
  }
  if (!entries.length) {
    annotations.push({ xref: "paper", yref: "paper", x: 0.5, y: 0.5, showarrow: false, font: { size: 13, color: "#666" },
      text: "Press Train: every setting trains on its own connection,<br>and the loss curves appear here together." });
  }
  chart.draw(data, {
    xaxis: stepAxis(total),
    yaxis: { ...logAxis("loss (log)", [...entries.flatMap((e) => e.run.loss), ...[...baselines.values()].map((b) => b.loss)]),
      showticklabels: entries.length > 0 },
    showlegend: entries.length > 0, legend: LEGEND, margin: { t: 28 }, annotations,
  });
}

const COLUMNS = [
  ["setting", "setting"],
  ["loss", "loss"],
  ["norm", "‖g‖ before clipping"],
  ["coef", "clip coefficient"],
  ["params", "parameters"],
  ["trained", "last training loss"],
  ["data", "data"],
];

/**
 * The summary table, one row per setting.  Cells hold the exact number in data-value.
 * @param {HTMLTableElement} table
 * @param {Array<{name: string, label: string, colour: string, trace: object|null, run: object|null,
 *   error: string|null, differentData: boolean}>} rows
 * @param {import('./schema.js').Schema} schema  the config table (a choice's display name)
 */
export function fillCompareTable(table, rows, schema) {
  const head = document.createElement("thead");
  const hr = document.createElement("tr");
  for (const [, title] of COLUMNS) {
    const th = document.createElement("th");
    th.scope = "col";
    th.textContent = title;
    hr.append(th);
  }
  head.append(hr);
  const body = document.createElement("tbody");
  for (const row of rows) {
    const tr = document.createElement("tr");
    tr.dataset.name = row.name;
    const done = row.trace && row.trace.done;
    const cells = {
      setting: [row.label, null],
      loss: done ? [fmtNum(done.loss, 4), done.loss] : [row.error ? "refused" : "…", null],
      norm: done ? [fmtNum(done.total_norm), done.total_norm] : ["…", null],
      coef: done ? coefText(row.trace, schema) : ["…", null],
      params: row.trace ? [row.trace.start.param_count.toLocaleString("en"), row.trace.start.param_count] : ["…", null],
      trained: trainedText(row.run),
      data: [row.name === "A" ? "A's batch" : row.differentData ? "different data" : "same as A", null],
    };
    for (const [key] of COLUMNS) {
      const td = document.createElement(key === "setting" ? "th" : "td");
      if (key === "setting") {
        td.scope = "row";
        const swatch = document.createElement("span");
        swatch.className = "swatch";
        swatch.style.background = row.colour;
        td.append(swatch, document.createTextNode(cells.setting[0]));
      } else td.textContent = cells[key][0];
      td.dataset.stat = key;
      if (cells[key][1] !== null) td.dataset.value = String(cells[key][1]);
      if (key === "data" && row.differentData) td.className = "different-data";
      const value = cells[key][1];
      const diverged = key === "trained" && row.run && row.run.divergedAt != null;
      if (diverged || (typeof value === "number" && !Number.isFinite(value))) td.classList.add("nonfinite");
      tr.append(td);
    }
    if (row.error) tr.title = row.error;
    body.append(tr);
  }
  table.replaceChildren(head, body);
}

function coefText(trace, schema) {
  const c = trace.config.clip;
  if (c === "none") return ["no clipping", null];
  if (c === "value") return [schema.choiceLabel("clip", c), null];
  return [fmtNum(trace.done.clip_coef), trace.done.clip_coef];
}

function trainedText(run) {
  if (!run) return ["–", null];
  if (run.divergedAt != null) return [`diverged at step ${run.divergedAt}`, null];
  if (run.done) return [fmtNum(run.done.final_loss, 4), run.done.final_loss];
  if (run.stopped) return [`stopped at step ${run.steps}`, null];
  return [`training… step ${run.steps}`, null];
}
