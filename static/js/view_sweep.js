// The sweep's chart: each curve's mean over the seeds against the swept value, the seeds' spread as a band, a log
// axis where the quantity spans decades (magnitudeAxis).  On a log axis a point that overflowed (inf / NaN) is drawn
// at the top as a cross and an exact 0, a norm flushed below float32's normal range, on the floor with the
// underflow marker, never dropped (charts.js clampForLog).  Beside a vanilla RNN's gradient at the first input step
// the theory's bound at that step is dotted (the points' bound_first: engine/lab/theory.py geometric_bound).

import { Chart, LINE_COLOURS, UNDERFLOW_COLOUR, clampForLog, finiteRange, logWindow } from "./charts.js";
import { axisType, curveName, magnitudeAxis, metricsFor } from "./sweep_state.js";
import { edgeLabel } from "./view_norms.js";

export const ZERO_TEXT = "0: below float32's normal range (flushed to zero)";

/** Plotly traces and layout of `points` (a SweepPoints) for `metric`; `field` is the swept key's table entry. */
export function sweepFigure(points, metric, field) {
  const start = points.start;
  const about = metricsFor(start.kind).find((m) => m.name === metric) || metricsFor(start.kind)[0];
  const curves = points.curves(about.name, about.baseline);
  // The bound exists for a vanilla RNN's curves only: the others' means are NaN.
  const bounds = about.name === "grad_first" ? points.curves("bound_first") : [];
  const all = curves.flatMap((c) => [...c.lo, ...c.hi]);
  const yLog = !about.fraction && magnitudeAxis(all) === "log";
  const numericX = field && (field.type === "int" || field.type === "float");
  const xLog = numericX && axisType(start.values) === "log";
  const window = logWindow(finiteRange([...all, ...bounds.flatMap((b) => b.mean)]));
  const place = (ys) => (yLog ? clampForLog(ys, window.floor, window.ceil) : { y: ys, zeros: [], overs: [] });
  const traces = [];
  const zeros = { x: [], y: [], text: [] };
  let boundDrawn = false;
  curves.forEach((c, i) => {
    const colour = LINE_COLOURS[i % LINE_COLOURS.length];
    const name = curveName(c.over, start.key, c.name);
    if (c.seeds.some((n) => n > 1)) {
      traces.push({ x: c.x, y: place(c.hi).y, mode: "lines", line: { width: 0, color: colour }, hoverinfo: "skip",
        showlegend: false, name: `${name} highest` });
      traces.push({ x: c.x, y: place(c.lo).y, mode: "lines", line: { width: 0, color: colour }, fill: "tonexty",
        fillcolor: colour + "33", hoverinfo: "skip", showlegend: false, name: `${name} lowest` });
    }
    const mean = place(c.mean);
    traces.push({ x: c.x, y: mean.y, mode: "lines+markers", name, meta: i, line: { color: colour, width: 2 },
      marker: { color: colour, size: 7, symbol: c.x.map((_, k) => (mean.overs.includes(k) ? "x" : mean.zeros.includes(k)
        ? "circle-open" : "circle")) },
      customdata: c.mean.map((v, k) => [v, c.seeds[k]]),
      hovertemplate: `${name}<br>${start.key} = %{x}<br>${about.name} = %{customdata[0]:.4g} (mean of %{customdata[1]} seeds)<extra></extra>` });
    for (const k of mean.zeros) {
      zeros.x.push(c.x[k]);
      zeros.y.push(window.floor);
      zeros.text.push(`${name}, ${start.key} = ${c.x[k]}`);
    }
    const bound = bounds[i]?.mean.map((v) => (Number.isFinite(v) && v > 0 ? v : null));
    if (bound?.some((v) => v !== null)) {
      boundDrawn = true;
      traces.push({ x: bounds[i].x, y: bound, mode: "lines", name: `${name}: bound ‖∂L/∂h_T−1‖·(γ·σ_max)^(T−1)`,
        line: { color: colour, width: 1.5, dash: "dot" },
        hovertemplate: `bound for ${name}<br>${start.key} = %{x}: %{y:.3e} (mean of the seeds)<extra></extra>` });
    }
    if (about.baseline && c.baseline.some((b) => b !== null)) {
      traces.push({ x: c.x, y: c.baseline, mode: "lines", name: `${name} baseline`, showlegend: false,
        line: { color: colour, width: 1, dash: "dot" }, hovertemplate: `baseline %{y:.4g}<extra></extra>` });
    }
  });
  const annotations = [];
  if (zeros.x.length) {
    traces.push({ mode: "markers", ...zeros, name: ZERO_TEXT, showlegend: false,
      hovertemplate: `%{text}: ${ZERO_TEXT}<extra></extra>`,
      marker: { symbol: "triangle-down-open", size: 10, color: UNDERFLOW_COLOUR, line: { width: 1.5 } } });
    annotations.push(edgeLabel(window.floor, "▼ 0: below float32's normal range", UNDERFLOW_COLOUR)); // a phone's width
  }
  const layout = {
    annotations,
    showlegend: curves.length > 1 || boundDrawn,
    // Above the plot, growing upwards into the margin: on a phone the curves' names take two rows.
    legend: { orientation: "h", x: 0, y: 1.02, yanchor: "bottom", traceorder: "normal" },
    margin: { t: curves.length > 1 ? 64 : 16 },
    xaxis: { title: { text: start.key }, exponentformat: "power", type: numericX ? (xLog ? "log" : "linear") : "category" },
    yaxis: { title: { text: about.axis ?? about.label }, type: yLog ? "log" : "linear", exponentformat: "power",
      ...(about.fraction ? { range: [-0.05, 1.05] } : {}),
      ...(yLog ? { range: logRange(window) } : {}) },
  };
  return { traces, layout, yLog, xLog };
}

/** The log axis's range: the window with a margin, so that the markers on its floor and ceiling show whole. */
function logRange(window) {
  const lo = Math.log10(window.floor);
  const hi = Math.log10(window.ceil);
  const margin = 0.04 * (hi - lo);
  return [lo - margin, hi + margin];
}

export class SweepView {
  /** @param {(series: number, value: any) => void} onPick  a curve's point clicked: its curve and swept value */
  constructor(el, onPick = () => {}) {
    this.chart = new Chart(el);
    this.el = el;
    this.chart.on("plotly_click", (points) => {
      const p = points.find((q) => Number.isInteger(q.data?.meta));
      if (p) onPick(p.data.meta, p.x);
    });
  }

  /** Draw `points` for `metric` as it stands (called after every point). */
  show(points, metric, field) {
    const figure = sweepFigure(points, metric, field);
    this.chart.draw(figure.traces, figure.layout);
    return figure;
  }

  reset() {
    this.chart.reset();
  }
}
