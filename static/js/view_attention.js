// Attention (an encoder-decoder with attention): the alignment of the shown sample, decoder step × source step; the
// encoder's top-layer gradient with its two parts stacked, the part arriving through the attention and the part
// through the recurrence; and, hovering a decoder step on the alignment, where that step's own gradient goes (its
// row of the lag map, when the map is on show).  Reads the run's `done.attention` (docs/protocol.md); owns its figure.

import { LINE_COLOURS, integerTicks } from "./charts.js";

const AXIS = { zeroline: false, gridcolor: "#e6e6e6", linecolor: "#888", ticks: "outside", ticklen: 4 };
const THROUGH = LINE_COLOURS[1]; // the attention's part
const REST = LINE_COLOURS[0]; // the recurrence's part
const ROW = LINE_COLOURS[5]; // the hovered decoder step's gradient

/** The run's attention fields, or null (no attention, or the run has not ended). */
export function attentionOf(trace) {
  return trace?.done?.attention ?? null;
}

/**
 * The lag map's row of decoder step `i` over the encoder's T steps (layer l, direction d), or null when the run has
 * no map or the map has no row for that step.  The map's output steps are on the joined axis: decoder step i is T + i.
 */
export function decoderRow(lag, T, l, d, i) {
  if (!lag) return null;
  const k = lag.outputSteps.indexOf(T + i);
  return k < 0 ? null : Array.from(lag.row(l, d, k).subarray(0, T));
}

function sourceAxis(T) {
  return { ...AXIS, ...integerTicks(T), title: { text: "source step j (as the encoder reads)" }, range: [-0.5, T - 0.5] };
}

/**
 * Draw an alignment α (T rows of T, decoder step × source step) as a heatmap on `chart`, with `shapes` over it: the
 * trace views' (a run's `done.attention`) and the training panel's (a profiled step's, as it forms).
 */
export function drawAlignment(chart, alignment, shapes = [], title = "") {
  const T = alignment.length;
  const steps = Array.from({ length: T }, (_, t) => t);
  chart.draw([{
    type: "heatmap", x: steps, y: steps, z: alignment, zmin: 0, zmax: 1, colorscale: "Viridis",
    colorbar: { title: { text: "α_ij", side: "right" }, thickness: 12, len: 1 },
    hovertemplate: "decoder step %{y} reads source step %{x}<br>α = %{z:.3f}<extra></extra>",
  }], {
    xaxis: sourceAxis(T),
    yaxis: { ...AXIS, ...integerTicks(T), title: { text: "decoder step i" }, autorange: "reversed" },
    shapes, margin: { l: 64, r: 8, ...(title ? { t: 28 } : {}) },
    ...(title ? { title: { text: title, font: { size: 12 }, x: 0 } } : {}),
  });
}

export class AttentionView {
  /**
   * @param {Document} doc
   * @param {Record<string, import('./charts.js').Chart>} charts  chart-alignment, chart-attention-split
   * @param {() => void} invalidate  asks the views for a repaint
   */
  constructor(doc, charts, invalidate) {
    this.root = doc.querySelector("#view-attention");
    this.note = doc.querySelector("#note-attention");
    this.map = charts["chart-alignment"];
    this.split = charts["chart-attention-split"];
    this.invalidate = invalidate;
    this.hover = null; // the decoder step under the pointer on the alignment
    this.map.on("plotly_hover", ([p]) => this.hovered(p ? Number(p.y) : null));
    this.map.on("plotly_unhover", () => this.hovered(null));
  }

  hovered(step) {
    if (step === this.hover) return;
    this.hover = step;
    this.invalidate();
  }

  /** Whether the run on show has attention (its config says so from the start frame). */
  applies(trace) {
    const kind = trace?.start?.config?.attention;
    return !!kind && kind !== "none";
  }

  /** What a paint depends on besides the run: the hovered step and whether a lag map has come. */
  key(trace) {
    return [this.hover, trace?.lag ? trace.lag.outputSteps.length : 0];
  }

  /** Draw the run's alignment and split for direction `d` of the top layer. */
  paint(trace, d) {
    const att = attentionOf(trace);
    this.root.classList.toggle("empty", !this.applies(trace));
    if (!att) return;
    const T = trace.start.handoff;
    const steps = Array.from({ length: T }, (_, t) => t);
    const source = sourceAxis(T);
    const i = this.hover;
    const highlight = i === null ? [] : [{ type: "rect", xref: "x", yref: "y", x0: -0.5, x1: T - 0.5, y0: i - 0.5, y1: i + 0.5,
      line: { color: ROW, width: 2 } }];
    drawAlignment(this.map, att.alignment, highlight);
    const L = trace.L;
    const total = trace.normSeries("h", L - 1, d, 0, T);
    const data = [
      { type: "bar", name: "through the attention", x: steps, y: att.grad_attention_norm[d], marker: { color: THROUGH } },
      { type: "bar", name: "through the recurrence", x: steps, y: att.grad_recurrent_norm[d], marker: { color: REST } },
      { type: "scatter", mode: "markers", name: "‖∂L/∂h_j‖ (their sum as vectors)", x: steps, y: total,
        marker: { color: "#000", symbol: "line-ew-open", size: 14 } },
    ];
    const row = i === null ? null : decoderRow(trace.lag, T, L - 1, d, i);
    if (row) data.push({ type: "scatter", mode: "lines+markers", name: `decoder step ${i}'s own gradient`, x: steps, y: row,
      line: { color: ROW, width: 2 } });
    this.split.draw(data, {
      barmode: "stack", xaxis: source, yaxis: { ...AXIS, title: { text: "norm over batch and units" }, rangemode: "tozero" },
      showlegend: true, legend: { orientation: "h", x: 0, y: 1.02, yanchor: "bottom" }, margin: { t: 48 },
    });
    this.note.textContent = this.says(att, T, d, i, row);
  }

  says(att, T, d, i, row) {
    const first = att.grad_attention_norm[d][0] / (att.grad_attention_norm[d][0] + att.grad_recurrent_norm[d][0] || 1);
    const share = `At source step 0, ${Math.round(100 * first)}% of the two parts' sum arrives through the attention.`;
    if (i === null) return `${share} Hover a decoder step on the alignment to see where its gradient goes.`;
    if (!row) return `${share} Open the lag map below to see where decoder step ${i}'s gradient goes.`;
    return `${share} Decoder step ${i}'s own gradient reaches every source step directly; the line shows how much.`;
  }
}
