// The cliff page's glue: controls built from the field table, one request per setting to /api/cliff, and the
// two Plotly views (the loss surface with both descents over it, and the length of each step).
// cliff_state.js owns the link and the request lifecycle; this module owns the DOM.

/* global Plotly */

import { ApiCliffSource, RecordedCliffSource } from "./cliff_source.js";
import { CliffState, formatValue, parseLink, queryOf } from "./cliff_state.js";

const COLOURS = { plain: "#E69F00", clipped: "#0072B2" }; // Okabe–Ito orange and blue, as in the lab
const LOSS_FLOOR = 1e-16; // an exact 0 on a log scale is drawn at this value
const SUPERSCRIPT = { "-": "⁻", 0: "⁰", 1: "¹", 2: "²", 3: "³", 4: "⁴", 5: "⁵", 6: "⁶", 7: "⁷", 8: "⁸", 9: "⁹" };
const GROUPS = { network: "Network", descent: "Gradient descent", grid: "Grid" };
const PLOTLY_CONFIG = {
  displaylogo: false,
  displayModeBar: false,
  responsive: true,
};

const boot = JSON.parse(document.getElementById("cliff-boot").textContent);
const { fields, link_version: linkVersion } = boot;
// A static copy has no server to read its link: the export wrote the lesson's query into the boot data.
const search = location.search || boot.search || "";
const lessonId = new URLSearchParams(search).get("lesson");
const state = new CliffState(fields, parseLink(search, fields).config, linkVersion);
const copy = window.GFL_STATIC || null;
const source = copy
  ? new RecordedCliffSource(copy.recordings, (config) => queryOf(fields, config),
    "this static copy holds only this lesson's setting and its 'now try' variants" + (copy.live_url ? ": open the live lab for any other" : ""))
  : new ApiCliffSource();
const lessonConfig = { ...state.config };
const form = document.getElementById("cliff-controls");
const status = document.getElementById("cliff-status");
let controller = null;
// A lesson asks for a prediction first: its surface is drawn, its descents wait for Run (or the answer, or a try).
let held = !!document.getElementById("lesson");
let shown = null; // the last answer drawn, with its tag

/** Numbers from the wire: the strict encoder writes non-finite values as strings (server/wire.py). */
function fromWire(v) {
  if (v === "inf") return Infinity;
  if (v === "-inf") return -Infinity;
  if (v === "nan") return NaN;
  if (Array.isArray(v)) return v.map(fromWire);
  if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, fromWire(x)]));
  return v;
}

const power = (k) => "10" + String(k).replace(/./g, (c) => SUPERSCRIPT[c]);
const fmt = (x) => (Number.isFinite(x) ? (Math.abs(x) >= 1e4 || (x !== 0 && Math.abs(x) < 1e-3) ? x.toExponential(2) : x.toPrecision(3)) : String(x));

function buildControls() {
  const groups = {};
  for (const f of fields) {
    if (!groups[f.group]) {
      const set = document.createElement("fieldset");
      const legend = document.createElement("legend");
      legend.textContent = GROUPS[f.group] || f.group;
      set.append(legend);
      form.append(set);
      groups[f.group] = set;
    }
    const wrap = document.createElement("div");
    wrap.className = "control";
    const id = `cliff-${f.name}`;
    const label = document.createElement("label");
    label.className = "control-label";
    label.htmlFor = id;
    label.textContent = f.name;
    const line = document.createElement("div");
    line.className = "control-line";
    let input;
    if (f.type === "choice") {
      input = document.createElement("select");
      for (const c of f.choices) input.append(new Option(c, c));
    } else {
      input = document.createElement("input");
      input.type = "number";
      input.min = String(f.min);
      input.max = String(f.max);
      input.step = f.type === "int" ? "1" : "any";
      input.inputMode = f.type === "int" ? "numeric" : "decimal";
    }
    input.id = id;
    input.name = f.name;
    input.value = formatValue(f, state.config[f.name]);
    const help = document.createElement("span");
    help.className = "help";
    help.id = `${id}-help`;
    help.textContent = f.description;
    input.setAttribute("aria-describedby", help.id);
    line.append(input);
    if (f.unit) {
      const unit = document.createElement("span");
      unit.className = "unit";
      unit.textContent = f.unit;
      line.append(unit);
    }
    wrap.append(label, line, help);
    groups[f.group].append(wrap);
  }
}

function writeControls() {
  for (const f of fields) {
    const input = form.elements.namedItem(f.name);
    input.value = formatValue(f, state.config[f.name]);
    input.removeAttribute("aria-invalid");
  }
}

function followLink() {
  const query = state.link(lessonId ? { lesson: lessonId } : {});
  history.replaceState(null, "", "?" + query);
  const live = document.getElementById("live-link");
  if (live) live.href = new URL("cliff?" + query, copy.live_url.replace(/\/?$/, "/")).href;
}

/** A static copy: the controls cannot ask for other settings, so they are disabled, saying why. */
function staticControls() {
  const set = document.createElement("fieldset");
  set.className = "static-controls";
  set.disabled = true;
  set.append(...form.childNodes);
  const note = document.createElement("p");
  note.className = "static-note";
  note.id = "static-note";
  note.textContent = "A static copy: the lesson's setting and its 'now try' buttons, in any combination, are recorded here; other settings need the live lab.";
  if (copy.live_url) {
    const a = document.createElement("a");
    a.id = "live-link";
    a.textContent = " Open this setting in the live lab ↗";
    note.append(a);
  }
  form.append(note, set);
}

async function compute() {
  const tag = state.start();
  status.textContent = "Computing the loss surface…";
  status.dataset.phase = state.phase;
  if (controller) controller.abort();
  controller = new AbortController();
  try {
    const r = await source.get(tag, controller.signal);
    const body = r.body;
    if (!r.ok) {
      if (state.fail(tag, body.message)) showFailure(body);
      return;
    }
    if (state.accept(tag)) paint(fromWire(body), tag);
  } catch (e) {
    if (e.name !== "AbortError" && state.fail(tag, String(e))) showFailure({ message: String(e), field: null });
  }
}

function showFailure(body) {
  status.dataset.phase = state.phase;
  status.textContent = `Not drawn: ${body.message}`;
  if (body.field) form.elements.namedItem(body.field)?.setAttribute("aria-invalid", "true");
}

function pathTrace(path, name, dash) {
  return {
    type: "scatter", mode: "lines+markers", name, x: path.w, y: path.b,
    line: { color: COLOURS[name], width: 2.5, dash }, marker: { color: COLOURS[name], size: 5 },
    hovertemplate: `${name}<br>w %{x:.4g}<br>b %{y:.4g}<extra></extra>`,
  };
}

function paint(data, tag) {
  shown = { data, tag };
  const { grid, paths, config } = data;
  const z = grid.loss.map((row) => row.map((v) => Math.log10(Math.max(v, LOSS_FLOOR))));
  let lo = Infinity;
  let hi = -Infinity;
  for (const row of z) for (const v of row) if (Number.isFinite(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
  lo = Math.floor(lo);
  hi = Math.max(lo + 1, Math.ceil(hi)); // a flat grid still gets a colour bar
  const ticks = [];
  for (let k = lo; k <= hi; k++) ticks.push(k);
  const start = { type: "scatter", mode: "markers", name: "start", x: [config.w0], y: [config.b0], hoverinfo: "skip",
    marker: { size: 14, color: "rgba(0,0,0,0)", line: { color: "#fff", width: 3 } } };
  Plotly.react("chart-surface", [
    { type: "heatmap", name: "loss", x: grid.w, y: grid.b, z, colorscale: "Viridis", zmin: lo, zmax: hi,
      colorbar: { title: { text: "loss" }, tickvals: ticks, ticktext: ticks.map(power) },
      hovertemplate: "w %{x:.3g}<br>b %{y:.3g}<br>log₁₀ loss %{z:.2f}<extra></extra>" },
    ...(held ? [] : [pathTrace(paths.plain, "plain", "solid"), pathTrace(paths.clipped, "clipped", "dash")]),
    start,
  ], {
    margin: { l: 56, r: 8, t: 8, b: 44 }, showlegend: false, font: { size: 12, color: "#222" },
    xaxis: { title: { text: "recurrent weight w" }, range: [config.w_min, config.w_max] },
    yaxis: { title: { text: "bias b" }, range: [config.b_min, config.b_max] },
  }, PLOTLY_CONFIG);
  const stepsOf = (p) => ({ type: "scatter", mode: "lines+markers", name: p, x: paths[p].step.map((_, i) => i + 1),
    y: paths[p].step, line: { color: COLOURS[p], dash: p === "clipped" ? "dash" : "solid" } });
  // The longest step clipping allows, lr × clip_at, as a dotted line.
  const bound = config.lr * config.clip_at;
  const limit = { type: "scatter", mode: "lines", name: "lr × clip_at", x: [1, Math.max(1, config.steps)],
    y: [bound, bound], line: { color: "#555", width: 1, dash: "dot" }, hovertemplate: "lr × clip_at = %{y:.3g}<extra></extra>" };
  Plotly.react("chart-steps", held ? [limit] : [stepsOf("plain"), stepsOf("clipped"), limit], {
    margin: { l: 56, r: 8, t: 8, b: 44 }, showlegend: false, font: { size: 12, color: "#222" },
    xaxis: { title: { text: "step" } }, yaxis: { title: { text: "‖Δ(w, b)‖" }, type: "log", exponentformat: "power" },
  }, PLOTLY_CONFIG);
  if (held) for (const cell of document.querySelectorAll("#cliff-summary [data-stat]")) cell.textContent = "…";
  else summarise(paths, config);
  status.dataset.phase = state.phase;
  status.textContent = `T = ${config.T}, start (${config.w0}, ${config.b0}), lr ${config.lr}, clip at ${config.clip_at}.` +
    (held ? " The descents wait: predict, then press Run." : "");
  window.gflCliff.lastPaint = { query: tag, data, held, count: (window.gflCliff.lastPaint?.count || 0) + 1 };
  window.dispatchEvent(new CustomEvent("gfl:painted", { detail: { query: tag, held, at: performance.now() } }));
}

function summarise(paths, config) {
  const put = (k, v) => { document.querySelector(`[data-stat="${k}"]`).textContent = v; };
  for (const name of ["plain", "clipped"]) {
    const p = paths[name];
    const last = p.w.length - 1;
    put(`${name}-max-step`, p.step.length ? fmt(Math.max(...p.step)) : "–");
    put(`${name}-max-norm`, p.grad_norm.length ? fmt(Math.max(...p.grad_norm)) : "–");
    put(`${name}-final-loss`, fmt(p.loss[last]) + (p.stopped_at === null ? "" : ` (not finite at step ${p.stopped_at})`));
    put(`${name}-end`, `(${fmt(p.w[last])}, ${fmt(p.b[last])})`);
  }
  put("clipped-count", String(paths.clipped.grad_norm.filter((g) => g + 1e-6 > config.clip_at).length));
}

function onChange(e) {
  const input = e.target;
  if (!input.name) return;
  try {
    state.set(input.name, input.value);
    input.removeAttribute("aria-invalid");
  } catch (err) {
    input.setAttribute("aria-invalid", "true");
    status.textContent = `Not drawn: ${err.message}`;
    return;
  }
  followLink();
  compute();
}

/** Draw the held descents (once): Run, the answer and every try release them. */
function release() {
  if (!held) return;
  held = false;
  if (shown) paint(shown.data, shown.tag);
}

function wireLesson() {
  const reveal = document.querySelector(".lesson-reveal");
  if (!reveal) return;
  document.querySelector(".lesson-go").addEventListener("click", release);
  reveal.addEventListener("click", () => {
    release();
    const answer = document.getElementById("lesson-answer");
    answer.hidden = !answer.hidden;
    reveal.setAttribute("aria-expanded", String(!answer.hidden));
  });
  for (const button of document.querySelectorAll("button.try")) {
    button.addEventListener("click", () => {
      held = false; // the next answer is drawn whole
      const { key, value } = button.dataset;
      const field = fields.find((f) => f.name === key);
      // Pressed again, a try puts its control back to the lesson's value.
      const again = button.getAttribute("aria-pressed") === "true";
      state.set(key, again ? formatValue(field, lessonConfig[key]) : value);
      button.setAttribute("aria-pressed", String(!again));
      document.querySelector(`.look-for[data-try="${button.dataset.try}"]`).hidden = again;
      writeControls();
      followLink();
      compute();
    });
  }
}

window.gflCliff = { state, lastPaint: null };
buildControls();
if (copy) staticControls();
form.addEventListener("change", onChange);
form.addEventListener("submit", (e) => e.preventDefault());
document.getElementById("copy-link").addEventListener("click", () => navigator.clipboard?.writeText(location.href).catch(() => {}));
wireLesson();
followLink();
compute();
