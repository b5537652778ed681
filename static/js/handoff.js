// The encoder–decoder's handoff: where the encoder's final state starts the decoder, on the 2T-step time axis.

export const HANDOFF_COLOUR = "#d62728";

/**
 * Plotly shapes and annotations marking the handoff with a vertical line labelled "handoff", between the
 * encoder's last step (T−1) and the decoder's first (T). Empty for every other architecture.
 * @param {{handoff?: number|null}} start  the run's `start` frame
 * @param {string} xref  the time axis the line belongs to
 */
export function handoffMarks(start, xref = "x") {
  const t = start ? start.handoff : null;
  if (t === null || t === undefined) return { shapes: [], annotations: [] };
  const x = t - 0.5;
  return {
    shapes: [{ type: "line", name: "handoff", xref, yref: "paper", x0: x, x1: x, y0: 0, y1: 1,
      line: { color: HANDOFF_COLOUR, width: 2 } }],
    annotations: [{ xref, yref: "paper", x, y: 1, xanchor: "left", yanchor: "bottom", text: "handoff", showarrow: false,
      font: { size: 12, color: HANDOFF_COLOUR } }],
  };
}
