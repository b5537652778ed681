// Theory next to measurement: the eigenvalues of W_hh in the complex plane
// (with the unit circle that separates growth from decay), and, for gated
// cells, the memory-path gate product drawn over the measured gradient norms.

import { LINE_COLOURS, fmtNum, layerLabel } from "./charts.js";

const AXIS = { zeroline: true, zerolinecolor: "#ccc", gridcolor: "#eee", linecolor: "#888", ticks: "outside", ticklen: 4 };
const UNIT_CIRCLE_COLOUR = "#555";

/** |λ| of each eigenvalue of a block {real: [H], imag: [H]} (strings "nan"/"inf" allowed). */
function eigenPoints(block) {
  const re = (block.real || []).map(Number);
  const im = (block.imag || []).map(Number);
  return re.map((x, i) => ({ x, y: im[i], r: Math.hypot(x, im[i]) })).filter((p) => Number.isFinite(p.r));
}

/**
 * Eigenvalues of layer 0's forward W_hh (theory.eigenvalues, one entry per gate
 * block for LSTM/GRU) on equal axes with the unit circle.
 * @param {import('./charts.js').Chart} chart
 * @param {import('./trace.js').RunTrace} trace
 */
export function drawEigenvalues(chart, trace) {
  const blocks = Object.entries(trace.theory.eigenvalues || {});
  const data = [];
  let rho = 0;
  blocks.forEach(([name, block], i) => {
    const pts = eigenPoints(block);
    for (const p of pts) rho = Math.max(rho, p.r);
    const label = name === "recurrent" ? "λ of W_hh" : `${name} block`;
    data.push({
      type: "scatter", mode: "markers", name: label, x: pts.map((p) => p.x), y: pts.map((p) => p.y),
      customdata: pts.map((p) => p.r),
      marker: { color: LINE_COLOURS[i % LINE_COLOURS.length], size: 7, opacity: 0.8, line: { color: "#fff", width: 0.5 } },
      hovertemplate: `${label}<br>λ = %{x:.3f} %{y:+.3f}i<br>|λ| = %{customdata:.3f}<extra></extra>`,
    });
  });
  // The circle always shows, and so does every eigenvalue outside it.
  const half = Math.max(1.25, rho * 1.08);
  const outside = data.reduce((n, tr) => n + tr.customdata.filter((r) => r > 1).length, 0);
  const count = data.reduce((n, tr) => n + tr.x.length, 0);
  const where = outside ? `${outside} of ${count} outside the circle` : "all inside the circle";
  chart.draw(data, {
    xaxis: { ...AXIS, title: { text: "real part", standoff: 4 }, range: [-half, half], autorange: false, constrain: "domain" },
    yaxis: { ...AXIS, title: { text: "imaginary part", standoff: 2 }, range: [-half, half], autorange: false,
      scaleanchor: "x", scaleratio: 1, constrain: "domain" },
    shapes: [{ type: "circle", xref: "x", yref: "y", x0: -1, y0: -1, x1: 1, y1: 1,
      line: { color: UNIT_CIRCLE_COLOUR, width: 1.5, dash: "dash" }, layer: "below" }],
    annotations: [{ xref: "paper", yref: "paper", x: 0, y: 1, xanchor: "left", yanchor: "bottom", showarrow: false,
      font: { size: 12, color: "#333" }, text: `largest |λ| = ${fmtNum(rho)}: ${where}` }],
    showlegend: blocks.length > 1,
    legend: { x: 1.02, y: 0.5, yanchor: "middle", font: { size: 12 } },
    margin: { t: 22, l: 56, r: 8, b: 40 },
  });
}

/**
 * The memory path of a gated cell, for the gradient-norm view: the product of
 * the mean forget (LSTM) or update (GRU) gates from t to the end, per layer and
 * direction, on a log axis of its own at the right.  Empty for the RNN.
 * @returns {{data: object[], layout: object}} traces to add and layout keys to merge
 */
export function gateProductOverlay(trace, from) {
  const { T, L, D } = trace;
  if (!trace.gateNames.length) return { data: [], layout: {} };
  const gate = trace.config.cell === "gru" ? "update" : "forget";
  const x = Array.from({ length: T }, (_, t) => t);
  const data = [];
  let lo = 1;
  for (let l = 0; l < L; l++) {
    for (let d = 0; d < D; d++) {
      const y = trace.normSeries("gate_product", l, d, from, T).map((v) => (Number.isFinite(v) && v > 0 ? v : null));
      if (!y.some((v) => v !== null)) continue;
      for (const v of y) if (v !== null) lo = Math.min(lo, v);
      const name = L * D > 1 ? " " + layerLabel(l, d, D) : "";
      data.push({
        type: "scatter", mode: "lines", x, y, yaxis: "y2", name: `∏ ${gate} gate (memory path)`, legendgroup: "gate-product",
        showlegend: data.length === 0, line: { color: LINE_COLOURS[(l * D + d) % LINE_COLOURS.length], width: 1.6, dash: "dot" },
        hovertemplate: `∏ mean ${gate} gate from t to the end${name}<br>t = %{x}: %{y:.3e}<extra></extra>`,
      });
    }
  }
  if (!data.length) return { data, layout: {} };
  const bottom = Math.min(-1, Math.max(-40, Math.floor(Math.log10(lo))));
  // One labelled tick per decade (or per few decades), so the axis reads "1, 10⁻¹, 10⁻², …".
  const every = Math.max(1, Math.ceil(-bottom / 5));
  const tickvals = [];
  for (let e = 0; e >= bottom; e -= every) tickvals.push(10 ** e);
  return {
    data,
    layout: {
      yaxis2: { type: "log", overlaying: "y", side: "right", range: [bottom - 0.15, 0.15], autorange: false,
        showgrid: false, zeroline: false, linecolor: "#888", ticks: "outside", ticklen: 4, tickvals,
        ticktext: tickvals.map((v, i) => (i === 0 ? "1" : `10${superscript(Math.round(Math.log10(v)))}`)),
        title: { text: `∏ ${gate} gate`, standoff: 4, font: { size: 12 } }, tickfont: { size: 12 } },
      margin: { r: 70 },
    },
  };
}

const SUPERSCRIPT_DIGITS = "⁰¹²³⁴⁵⁶⁷⁸⁹";

/** -12 -> "⁻¹²" */
function superscript(n) {
  return (n < 0 ? "⁻" : "") + String(Math.abs(n)).split("").map((c) => SUPERSCRIPT_DIGITS[Number(c)]).join("");
}
