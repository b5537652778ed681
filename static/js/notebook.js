// The lab's views in a notebook's output cell (server/notebook): the page's own trace store, frame source
// and view modules, painting into one output's <div> instead of the page's fixed elements.  Python embeds
// each trace's frames exactly as the socket would send them ([text, base64 binary | null], the recorded
// form of docs/protocol.md); a RecordedSource replays them to a frame dispatcher, whose RunTrace the views
// draw whole.
// Several outputs on one page each paint their own root: every element is found inside it.

import { Chart, fmtNum, layerLabel } from "./charts.js";
import { FrameDispatcher } from "./dispatch.js";
import { RecordedSource } from "./frames.js";
import { rowsNote } from "./lag.js";
import { showBanner } from "./panels.js";
import { Schema } from "./schema.js";
import { parseFrame } from "./socket.js";
import { SweepPoints } from "./sweep_state.js";
import { drawAlignment } from "./view_attention.js";
import { curveEntry, drawLagCurves, drawLagMap } from "./view_lag.js";
import { drawGradNorms, drawLayerMap } from "./view_norms.js";
import { SweepView } from "./view_sweep.js";
import { drawGates, drawGradUnits, drawHidden } from "./view_units.js";

// An output's HTML may be inserted before it is attached to the page (JupyterLab evaluates the scripts
// first); the charts need their width, so painting waits until the root is in the document.
const ATTACH_WAIT_MS = 30_000;
// How long an output without Plotly waits for a later output on the page to bring it.
const PLOTLY_WAIT_MS = 15_000;

function el(tag, attrs = {}, text = "") {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text) e.textContent = text;
  return e;
}

/** One view: a heading, its chart's element and a note under it. */
function figure(parent, id, view, title, extraClass = "") {
  const fig = el("figure", { class: "gfl-nb-view" });
  fig.append(el("figcaption", {}, title));
  const chart = el("div", { class: `gfl-nb-chart ${extraClass}`.trim(), id, "data-view": view });
  const note = el("p", { class: "gfl-nb-note" });
  fig.append(chart, note);
  parent.append(fig);
  return { chart: new Chart(chart), note };
}

/** What the heading says about a trace: its shape, batch, which sample the per-unit views show, the loss. */
export function caption(trace) {
  const { T, L, D, H } = trace;
  const s = trace.start;
  const N = s.shapes.N;
  const parts = [`${(trace.config.cell || "").toUpperCase()}`, `${L} layer${L > 1 ? "s" : ""}${D > 1 ? ", bidirectional" : ""}`,
    `T = ${T} steps`, `H = ${H} units`];
  const sample = s.sample ?? 0;
  if (N > 1) parts.push(`batch of ${N}: norms over the whole batch, unit views of sample ${sample}`);
  const len = Array.isArray(s.lengths) ? s.lengths[sample] : T;
  if (len < T) parts.push(`sample ${sample} has ${len} steps: its padding (t ≥ ${len}) is NaN, marked as non-finite`);
  if (trace.done) parts.push(`loss ${fmtNum(trace.done.loss, 4)}`);
  return parts.join(" · ");
}

/** Replay one section's recorded frames into a RunTrace (the page's frame dispatcher); resolves once it is whole. */
export function replay(src, units) {
  (window.GFL_RECORDINGS ||= {})[src] = units;
  return new Promise((resolve, reject) => {
    const dispatcher = new FrameDispatcher({
      done: (trace) => {
        // A packed batch's sample ends before T: its NaN past the end is padding, not a state that overflowed.
        const len = trace.start.lengths?.[trace.start.sample ?? 0];
        if (len < trace.T && trace.forwardOverflowT !== null && trace.forwardOverflowT >= len) trace.forwardOverflowT = null;
        resolve(trace);
      },
      error: (frame) => reject(new Error(frame.message)),
    });
    const onFrame = (frame, payload) => dispatcher.accept(frame, payload);
    const source = new RecordedSource(onFrame, () => {}, { recordings: [{ kind: "run", config: null, src }], keyOf: () => src });
    source.run(null);
  });
}

/** Paint one trace's views into `box`; returns the charts by view, for a test to read. */
export function paintSection(box, id, title, trace, schema) {
  box.append(el("h3", { class: "gfl-nb-title" }, title));
  const meta = box.appendChild(el("p", { class: "gfl-nb-meta" }, caption(trace)));
  meta.dataset.loss = String(trace.done.loss);
  const banner = box.appendChild(el("div", { class: "gfl-nb-banner", role: "status" }));
  const views = {};
  views.norms = figure(box, `${id}-grad-norm`, "grad-norm", "‖∂L/∂h_t‖ per layer and direction, log axis", "gfl-nb-wide");
  const pick = box.appendChild(el("label", { class: "gfl-nb-pick" }, "Unit views of "));
  const select = pick.appendChild(el("select", { "aria-label": "Layer and direction shown in the unit views" }));
  for (let l = 0; l < trace.L; l++) for (let d = 0; d < trace.D; d++) select.append(new Option(layerLabel(l, d, trace.D), `${l},${d}`));
  select.disabled = trace.L * trace.D < 2;
  const grid = box.appendChild(el("div", { class: "gfl-nb-grid" }));
  views.hidden = figure(grid, `${id}-hidden`, "hidden", "hidden state h_t, units × time");
  views.grad = figure(grid, `${id}-grad-units`, "grad-units", "log₁₀|∂L/∂h_t|, units × time");
  if (trace.gateNames.length) views.gates = figure(grid, `${id}-gates`, "gates", "gates, units × time, and their mean", "gfl-nb-tall");
  if (trace.L * trace.D > 1) views.layers = figure(grid, `${id}-layers`, "layers", "layer × time map of log₁₀‖∂L/∂h_t‖", "gfl-nb-short");
  if (trace.lag) {
    // Traced with the lag map (lag_rows): where each step's gradient comes from, and how far back it reaches.
    views.lagMap = figure(grid, `${id}-lag-map`, "lag-map", "the lag map: the part of ∂L/∂h_t from output step s (row), log colour");
    views.lagCurve = figure(grid, `${id}-lag-curve`, "lag-curve", "the lag curve: the share of an output's gradient left k steps back");
    views.lagMap.note.textContent = rowsNote(trace.lag.S, (trace.start.scored_steps || []).length);
  }
  const attention = trace.done.attention;
  if (attention) {
    // An encoder-decoder with attention: what each decoder step reads of the source (the page's attention view).
    views.alignment = figure(grid, `${id}-alignment`, "alignment", "the alignment α_ij: decoder step i (row) × source step j");
    drawAlignment(views.alignment.chart, attention.alignment);
  }
  const { T } = trace;
  views.norms.note.textContent = drawGradNorms(views.norms.chart, trace, T);
  if (views.layers) drawLayerMap(views.layers.chart, trace, T);
  showBanner(banner, trace, schema, T, T);
  const units = () => {
    const [l, d] = select.value.split(",").map(Number);
    drawHidden(views.hidden.chart, trace, l, d, T);
    drawGradUnits(views.grad.chart, trace, l, d, T);
    if (views.gates) drawGates(views.gates.chart, trace, l, d, T, T);
    if (views.lagMap) {
      drawLagMap(views.lagMap.chart, trace.lag, { l, d, tbptt: trace.config.tbptt || 0, start: trace.start });
      drawLagCurves(views.lagCurve.chart, [curveEntry(trace.lag, l, d, { theory: trace.theory })]);
    }
  };
  select.addEventListener("change", units);
  units();
  return views;
}

/** Paint a sweep's recorded frames (sweep_start, each sweep_point) as the sweep page draws them, one chart per
 * metric of its kind; returns {points, charts} for a test to read. */
export function paintSweep(box, id, title, units, fields) {
  box.append(el("h3", { class: "gfl-nb-title" }, title));
  const frames = units.map(([text]) => parseFrame(text));
  const points = new SweepPoints(frames[0]);
  for (const f of frames) if (f.type === "sweep_point") points.add(f);
  const field = fields.find((f) => f.name === points.start.key);
  const charts = {};
  const grid = box.appendChild(el("div", { class: "gfl-nb-grid" }));
  // A training sweep of a task that classifies also draws its accuracy (a regression task's points have none).
  const accuracy = points.points.some((p) => p.accuracy != null) ? ["accuracy"] : [];
  const metrics = points.start.kind === "train" ? ["final_loss", ...accuracy, "learned", "diverged"] : ["grad_first", "ratio"];
  for (const metric of metrics) {
    const fig = figure(grid, `${id}-${metric}`, metric, metric);
    charts[metric] = new SweepView(fig.chart.el);
    charts[metric].show(points, metric, field);
  }
  return { points, charts };
}

/**
 * Plotly travels in one output of a session only; an output rendered before that one (a saved notebook whose
 * cells ran out of order) waits for it to announce itself, and says how to mend the page if it never comes.
 */
function plotlyHere() {
  if (typeof Plotly !== "undefined") return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      window.removeEventListener("gfl-plotly", ready);
      reject(new Error("Plotly is not on this page (the output that carried it was cleared or deleted): "
        + "run this cell again with show(..., include_plotly=True)"));
    }, PLOTLY_WAIT_MS);
    const ready = () => { clearTimeout(timer); resolve(); };
    window.addEventListener("gfl-plotly", ready, { once: true });
  });
}

function attached(root) {
  if (root.isConnected) return Promise.resolve();
  const until = performance.now() + ATTACH_WAIT_MS;
  return new Promise((resolve, reject) => {
    const look = () => {
      if (root.isConnected) resolve();
      else if (performance.now() > until) reject(new Error("the output was never attached to the page"));
      else requestAnimationFrame(look);
    };
    look();
  });
}

/**
 * Paint every section of the output `root` (its <script class="gfl-nb-data"> holds {sections: [{title, units}]}).
 * Sets root.dataset.painted = "1" when done ("error" and a message in the output if it failed), and keeps
 * {sections: [{title, trace, views}]} on root.gfl for tests.
 */
export async function paint(root) {
  const wait = root.querySelector(".gfl-nb-wait");
  try {
    await plotlyHere();
    const data = JSON.parse(root.querySelector("script.gfl-nb-data").textContent);
    const schema = new Schema(data.fields, data.link_version);
    await attached(root);
    const out = [];
    for (const [i, section] of data.sections.entries()) {
      const id = `${root.id}-${i}`;
      if (section.units[0][0].startsWith('{"type":"sweep_start"')) { // a sweep: curves, not one trace's views
        const box = root.appendChild(el("section", { class: "gfl-nb-section", id }));
        out.push({ title: section.title, sweep: paintSweep(box, id, section.title, section.units, data.fields) });
        continue;
      }
      const trace = await replay(id, section.units);
      const box = root.appendChild(el("section", { class: "gfl-nb-section", id }));
      out.push({ title: section.title, trace, views: paintSection(box, id, section.title, trace, schema) });
    }
    root.gfl = { sections: out };
    if (wait) wait.remove();
    root.dataset.painted = "1";
  } catch (e) {
    if (wait) wait.textContent = `Gradient Flow Lab: the views could not be painted: ${e.message}`;
    root.dataset.painted = "error";
    throw e;
  }
}
