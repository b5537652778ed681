// Compare mode's views: ‖∂L/∂h_t‖ against t of every compared setting on one
// log axis (the handoff marked for an encoder–decoder), their loss curves while training over the task's baseline,
// their lag curves (how far back each hears) while the lag map's view is open, and a table of the numbers that
// matter side by side (for an encoder–decoder, how much of the gradient reaches its first source word), and the
// alignment of every setting with attention.

import { LINE_COLOURS, OVERFLOW_COLOUR, UNDERFLOW_COLOUR, clampForLog, finiteRange, fmtNum, logWindow } from "./charts.js";
import { handoffSteps, sourceShare } from "./compare_handoff.js";
import { attentionOf } from "./view_attention.js";
import { handoffMarks } from "./handoff.js";
import { curveEntry, drawLagCurves } from "./view_lag.js";
import { baselineLabel, logAxis, stepAxis } from "./view_training.js";
import { edgeLabel, timeAxis } from "./view_norms.js";

const AXIS = { zeroline: false, gridcolor: "#e6e6e6", linecolor: "#888", ticks: "outside", ticklen: 4 };
const LEGEND = { orientation: "h", x: 0, y: 1.0, yanchor: "bottom", font: { size: 12 } };

export const COMPARE_COLOURS = [LINE_COLOURS[0], LINE_COLOURS[1], LINE_COLOURS[2]];

/**
 * Which layer and direction of a trace the compare views show: `pick.layer` (0 = the bottom layer, null = the top
 * one), `pick.d` (0 forward, 1 reverse); null when the trace has no such layer or direction.
 */
export function pickedLayer(trace, pick) {
  const l = pick.layer ?? trace.L - 1;
  return l < trace.L && pick.d < trace.D ? l : null;
}

/** ‖∂L/∂h_t‖ of layer l, direction d, with zeros the loss never reached left out. */
export function normsAt(trace, l, d) {
  const reached = trace.reached(l, d);
  return trace.normSeries("h", l, d).map((v, t) => (v === 0 && !reached[t] ? null : v));
}

/** The settings that have no layer or direction `pick`, said in the chart (their lines are left out). */
function missingNote(missing) {
  return { xref: "paper", yref: "paper", x: 1, xanchor: "right", y: 0.02, yanchor: "bottom", showarrow: false,
    font: { size: 11, color: "#555" }, bgcolor: "rgba(255,255,255,0.85)",
    text: `not drawn (no such layer or direction): ${missing.map((e) => e.name).join(", ")}` };
}

/**
 * One line per setting: ‖∂L/∂h_t‖ of the layer and direction `pick` (see pickedLayer) against t, log axis.
 * @param {import('./charts.js').Chart} chart
 * @param {Array<{name: string, label: string, colour: string, trace: import('./trace.js').RunTrace}>} all  complete
 *   traces only
 * @param {{layer: number|null, d: number}} pick
 */
export function drawCompareNorms(chart, all, pick = { layer: null, d: 0 }) {
  const entries = all.filter((e) => pickedLayer(e.trace, pick) !== null);
  const missing = all.filter((e) => pickedLayer(e.trace, pick) === null);
  const series = entries.map((e) => normsAt(e.trace, pickedLayer(e.trace, pick), pick.d));
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
      // A line needs two points: a direction the loss reaches at one step only (the reverse one, many-to-one) is a dot.
      type: "scatter", mode: series[i].filter((v) => v !== null).length < 2 ? "markers" : "lines", x: series[i].map((_, t) => t), y: c.y, name: e.label,
      line: { color: e.colour, width: 2.2 }, marker: { color: e.colour, size: 7 },
      hovertemplate: `${e.label}<br>t = %{x}: %{y:.3e}<extra></extra>`,
    });
  });
  const marks = handoffSteps(entries).map((t) => handoffMarks({ handoff: t }));
  const annotations = marks.flatMap((m) => m.annotations);
  if (over) annotations.push(edgeLabel(win.ceil, "▲ inf / NaN", OVERFLOW_COLOUR));
  if (zero) annotations.push(edgeLabel(win.floor, "▼ exactly 0 (underflow)", UNDERFLOW_COLOUR));
  if (missing.length) annotations.push(missingNote(missing));
  if (!all.length) {
    annotations.push({ xref: "paper", yref: "paper", x: 0.5, y: 0.5, showarrow: false, font: { size: 13, color: "#666" },
      text: "waiting for the runs…" });
  }
  chart.draw(data, {
    xaxis: timeAxis(T),
    // automargin: the margin grows to hold the tick labels (10⁻²³ is wide) and the title beside them, never under.
    yaxis: { ...AXIS, type: "log", title: { text: "‖∂L/∂h_t‖ (log)", standoff: 10 }, automargin: true, exponentformat: "power",
      range: [Math.log10(win.floor) - 0.15, Math.log10(win.ceil) + 0.15], autorange: false, showticklabels: !!range },
    showlegend: true, legend: LEGEND, margin: { t: 28 }, annotations, shapes: marks.flatMap((m) => m.shapes),
  });
}

/**
 * One lag curve per setting (layer and direction `pick`, see pickedLayer), each with its bound (γ·σ_max)^k where the
 * setting is a vanilla RNN.
 * @param {Array<{label: string, colour: string, trace: import('./trace.js').RunTrace}>} entries  complete traces only
 */
export function drawCompareLag(chart, entries, pick = { layer: null, d: 0 }) {
  const curves = entries.filter((e) => e.trace.lag && pickedLayer(e.trace, pick) !== null).map((e) =>
    curveEntry(e.trace.lag, pickedLayer(e.trace, pick), pick.d, { theory: e.trace.theory, name: e.label, colour: e.colour }));
  drawLagCurves(chart, curves, { empty: "computing each setting's lag map…" });
}

/**
 * Each setting's alignment α side by side, decoder step × source step (the first sentence of the batch), one heatmap
 * per setting with attention, on one colour scale from 0 to 1, titled with its name (A, B or C).
 * @param {Array<{name: string, label: string, colour: string, trace: import('./trace.js').RunTrace}>} entries  complete
 *   traces with attention
 */
export function drawCompareAlignment(chart, entries) {
  const axis = { ...AXIS, showgrid: false };
  const layout = { grid: { rows: 1, columns: entries.length, pattern: "independent", xgap: 0.12 },
    margin: { t: 28, l: 56, r: 8 }, annotations: [] };
  const data = entries.map((e, i) => {
    const k = i ? String(i + 1) : "";
    const alignment = attentionOf(e.trace).alignment;
    layout[`xaxis${k}`] = { ...axis, title: { text: "source step j" }, range: [-0.5, alignment.length - 0.5] };
    layout[`yaxis${k}`] = { ...axis, title: { text: i ? "" : "decoder step i" }, autorange: "reversed" };
    layout.annotations.push({ xref: `x${k} domain`, yref: `y${k} domain`, x: 0, y: 1, xanchor: "left", yanchor: "bottom",
      showarrow: false, text: e.name, font: { size: 12, color: e.colour } }); // the legend's long label: in the hover
    return { type: "heatmap", xaxis: `x${k}`, yaxis: `y${k}`, z: alignment, zmin: 0, zmax: 1, colorscale: "Viridis",
      showscale: i === entries.length - 1, colorbar: { title: { text: "α_ij", side: "right" }, thickness: 12 },
      hovertemplate: `${e.label}<br>decoder step %{y} reads source step %{x}<br>α = %{z:.3f}<extra></extra>` };
  });
  chart.draw(data, layout);
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
    // Named in the legend, above the plot: a label on the line itself would sit on the curves that reach it.
    data.push({ type: "scatter", mode: "lines", x: [0, total], y: [b.loss, b.loss], name: `baseline, ${text}`,
      hoverinfo: "skip", line: { color: "#555", width: 1.5, dash: "dash" } });
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
  ["clipped", "‖g‖ after clipping"],
  ["coef", "clip coefficient"],
  ["step", "first step's size ‖Δθ‖"],
  ["params", "parameters"],
  ["source", "first source word's share"], // the encoder's ‖∂L/∂h_0‖ / ‖∂L/∂h_T−1‖: sourceShare
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
      clipped: done ? [fmtNum(done.total_norm_clipped), done.total_norm_clipped] : ["…", null],
      coef: done ? coefText(row.trace, schema) : ["…", null],
      step: done ? stepText(row.trace, schema) : ["…", null],
      params: row.trace ? [row.trace.start.param_count.toLocaleString("en"), row.trace.start.param_count] : ["…", null],
      source: done ? sourceText(row.trace) : ["…", null],
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

function sourceText(trace) {
  const share = sourceShare(trace);
  return share === null ? ["– (not an encoder–decoder)", null] : [fmtNum(share), share];
}

function coefText(trace, schema) {
  const c = trace.config.clip;
  if (c === "none") return ["no clipping", null];
  if (c === "value") return [schema.choiceLabel("clip", c), null];
  return [fmtNum(trace.done.clip_coef), trace.done.clip_coef];
}

/**
 * The size of the first optimizer step the training would take from this gradient.  SGD moves by lr·g, so by
 * lr·‖g‖ after clipping.  Adam's and RMSprop's first step divides each gᵢ by its own size (|gᵢ|, up to ε): it is
 * about lr per weight whatever ‖g‖ is, and rescaling g by clipping leaves it as it was.
 */
function stepText(trace, schema) {
  const c = trace.config;
  if (c.optimizer !== "sgd") return [`≈ lr per weight (${schema.choiceLabel("optimizer", c.optimizer)})`, null];
  const size = c.lr * trace.done.total_norm_clipped;
  return [fmtNum(size), size];
}

/**
 * What clipping does, for a comparison in which some setting clips: the lines above are computed before anything is
 * clipped, so only the step changes.  Null when no setting clips.
 */
export function clippingNote(rows) {
  const clipping = rows.filter((r) => r.trace?.done && r.trace.config.clip !== "none");
  if (!clipping.length) return null;
  return "Clipping acts after backpropagation: ∂L/∂h_t is computed first and is not touched, so settings that differ " +
    "only in clipping draw the same ‖∂L/∂h_t‖ line, one hidden under the other. What clipping changes is the " +
    "gradient of the weights, g, just before the update: by total norm it scales g down to ‖g‖ = the threshold when " +
    "it is larger (the clip coefficient is the factor), by value it caps each entry. With SGD the step is lr·g, so " +
    "the step shrinks by the same factor; Adam and RMSprop divide each entry by its own size, so their first step " +
    "hardly changes. Train all to see what that does to the training.";
}

function trainedText(run) {
  if (!run) return ["–", null];
  if (run.divergedAt != null) return [`diverged at step ${run.divergedAt}`, null];
  if (run.done) return [fmtNum(run.done.final_loss, 4), run.done.final_loss];
  if (run.stopped) return [`stopped at step ${run.steps}`, null];
  return [`training… step ${run.steps}`, null];
}
