// The cliff's views: the loss surface with both descents over it, the length of each step, the summary of both
// descents and the status line.  Each draws one /api/cliff answer; "predict, then run": a held answer shows the
// surface and the start, and its descents wait.  Reads the page state; changes nothing in it.

import { Chart, fmtNum } from "./charts.js";

const COLOURS = { plain: "#E69F00", clipped: "#0072B2" }; // Okabe–Ito orange and blue, as in the lab
const LOSS_FLOOR = 1e-16; // an exact 0 on a log scale is drawn at this value
const SUPERSCRIPT = { "-": "⁻", 0: "⁰", 1: "¹", 2: "²", 3: "³", 4: "⁴", 5: "⁵", 6: "⁶", 7: "⁷", 8: "⁸", 9: "⁹" };
const MARGIN = { l: 56, r: 8, t: 8, b: 44 };

const power = (k) => "10" + String(k).replace(/./g, (c) => SUPERSCRIPT[c]);

function pathTrace(path, name, dash) {
  return {
    type: "scatter", mode: "lines+markers", name, x: path.w, y: path.b,
    line: { color: COLOURS[name], width: 2.5, dash }, marker: { color: COLOURS[name], size: 5 },
    hovertemplate: `${name}<br>w %{x:.4g}<br>b %{y:.4g}<extra></extra>`,
  };
}

/** The heatmap of log₁₀ loss over the grid, its colour bar in whole decades. */
function lossHeatmap(grid) {
  const z = grid.loss.map((row) => row.map((v) => Math.log10(Math.max(v, LOSS_FLOOR))));
  let [min, max] = [Infinity, -Infinity];
  for (const row of z) for (const v of row) if (Number.isFinite(v)) [min, max] = [Math.min(min, v), Math.max(max, v)];
  const lo = Math.floor(min);
  const hi = Math.max(lo + 1, Math.ceil(max)); // a flat grid still gets a colour bar
  const ticks = Array.from({ length: hi - lo + 1 }, (_, i) => lo + i);
  return { type: "heatmap", name: "loss", x: grid.w, y: grid.b, z, colorscale: "Viridis", zmin: lo, zmax: hi,
    colorbar: { title: { text: "loss" }, tickvals: ticks, ticktext: ticks.map(power) },
    hovertemplate: "w %{x:.3g}<br>b %{y:.3g}<br>log₁₀ loss %{z:.2f}<extra></extra>" };
}

export class CliffViews {
  /**
   * @param {Document} doc
   * @param {import('./state.js').PageState} state
   */
  constructor(doc, state) {
    this.state = state;
    this.surface = new Chart(doc.getElementById("chart-surface"));
    this.steps = new Chart(doc.getElementById("chart-steps"));
    this.status = doc.getElementById("cliff-status");
    this.summary = doc.getElementById("cliff-summary");
    this.shown = null; // {answer, held}: what the views show
    state.listen((change) => change.type === "view" && this.sayPhase());
  }

  sayPhase() {
    const status = this.state.view.status;
    this.status.dataset.phase = status;
    if (status === "computing") this.status.textContent = "Computing the loss surface…";
  }

  /** The answer was refused (`message`, from the server or the copy): the views keep what they show. */
  failed(message) {
    this.sayPhase();
    this.status.textContent = `Not drawn: ${message}`;
  }

  /** Draw `answer` (an /api/cliff document); `held`: the descents and their numbers wait. */
  show(answer, held) {
    this.shown = { answer, held };
    const { grid, paths, config } = answer;
    const start = { type: "scatter", mode: "markers", name: "start", x: [config.w0], y: [config.b0], hoverinfo: "skip",
      marker: { size: 14, color: "rgba(0,0,0,0)", line: { color: "#fff", width: 3 } } };
    const descents = held ? [] : [pathTrace(paths.plain, "plain", "solid"), pathTrace(paths.clipped, "clipped", "dash")];
    this.surface.draw([lossHeatmap(grid), ...descents, start], {
      margin: MARGIN,
      xaxis: { title: { text: "recurrent weight w" }, range: [config.w_min, config.w_max] },
      yaxis: { title: { text: "bias b" }, range: [config.b_min, config.b_max] },
    });
    const stepsOf = (p) => ({ type: "scatter", mode: "lines+markers", name: p, x: paths[p].step.map((_, i) => i + 1),
      y: paths[p].step, line: { color: COLOURS[p], dash: p === "clipped" ? "dash" : "solid" } });
    // The longest step clipping allows, lr × clip_at, as a dotted line.
    const bound = config.lr * config.clip_at;
    const limit = { type: "scatter", mode: "lines", name: "lr × clip_at", x: [1, Math.max(1, config.steps)],
      y: [bound, bound], line: { color: "#555", width: 1, dash: "dot" }, hovertemplate: "lr × clip_at = %{y:.3g}<extra></extra>" };
    // Held, the chart holds only the dotted line: a decade either side of it, labelled by decades (Plotly's own
    // range would be a fraction of one decade, every minor tick labelled).
    const around = held ? { range: [Math.log10(bound) - 1, Math.log10(bound) + 1], autorange: false, dtick: 1 } : {};
    this.steps.draw(held ? [limit] : [stepsOf("plain"), stepsOf("clipped"), limit], {
      margin: MARGIN,
      xaxis: { title: { text: "step" } },
      yaxis: { title: { text: "‖Δ(w, b)‖" }, type: "log", exponentformat: "power", ...around },
    });
    this.summarise(paths, config, held);
    this.sayPhase();
    this.status.textContent = `T = ${config.T}, start (${config.w0}, ${config.b0}), lr ${config.lr}, clip at ${config.clip_at}.` +
      (held ? " The descents wait: predict, then press Run." : "");
  }

  /** Draw the held descents, if the views hold them back. */
  release() {
    if (this.shown?.held) this.show(this.shown.answer, false);
  }

  summarise(paths, config, held) {
    const put = (k, v) => { this.summary.querySelector(`[data-stat="${k}"]`).textContent = held ? "…" : v; };
    for (const name of ["plain", "clipped"]) {
      const p = paths[name];
      const last = p.w.length - 1;
      put(`${name}-max-step`, p.step.length ? fmtNum(Math.max(...p.step)) : "–");
      put(`${name}-max-norm`, p.grad_norm.length ? fmtNum(Math.max(...p.grad_norm)) : "–");
      put(`${name}-final-loss`, fmtNum(p.loss[last]) + (p.stopped_at === null ? "" : ` (not finite at step ${p.stopped_at})`));
      put(`${name}-end`, `(${fmtNum(p.w[last])}, ${fmtNum(p.b[last])})`);
    }
    put("clipped-count", String(paths.clipped.grad_norm.filter((g) => g + 1e-6 > config.clip_at).length));
  }
}
