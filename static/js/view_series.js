// Your own series, as the model reads it: the normalised values, and the windows the trace on show cut from
// them (the start frame's `windows`, docs/protocol.md: the engine's own positions, never re-derived here).
// Each window's seq_len inputs are shaded and its predicted next value marked; window 0, the sample the unit
// views show, is outlined.

import { LINE_COLOURS, OVERFLOW_COLOUR, fmtNum, integerTicks } from "./charts.js";

// Okabe–Ito orange (#E69F00) for the windows, against the blue series; vermillion crosses for the next values.
const WINDOW_FILL = "rgba(230, 159, 0, 0.12)";
const WINDOW_LINE = "rgba(230, 159, 0, 0.55)";
const AXIS = { zeroline: true, zerolinecolor: "#ccc", gridcolor: "#eee", linecolor: "#888", ticks: "outside", ticklen: 4 };

/** z = (value − mean) / std, as the server normalises the series (engine/data/series.py). */
export function normalise(echoed) {
  return echoed.values.map((v) => (v - echoed.mean) / echoed.std);
}

/**
 * The figure for a `series_loaded` frame and the windows of the trace on show (or null: none yet).
 * @returns {{data: object[], layout: object}}
 */
export function seriesFigure(echoed, windows) {
  const z = normalise(echoed);
  const x = z.map((_, k) => k);
  const data = [{
    type: "scatter", mode: "lines", name: `${echoed.name} (normalised)`, x, y: z,
    line: { color: LINE_COLOURS[0], width: 1.4 },
    hovertemplate: "position %{x}: z = %{y:.3f}<extra></extra>",
  }];
  const shapes = [];
  if (windows) {
    const T = windows.seq_len;
    const wx = [];
    const wy = [];
    windows.starts.forEach((p, n) => {
      for (let t = 0; t < T; t++) {
        wx.push(p + t);
        wy.push(z[p + t]);
      }
      wx.push(null);
      wy.push(null);
      shapes.push({ type: "rect", xref: "x", yref: "paper", x0: p - 0.5, x1: p + T - 0.5, y0: 0, y1: 1, layer: "below",
        fillcolor: WINDOW_FILL, line: n === 0 ? { color: "#000", width: 1.2, dash: "dash" } : { width: 0 } });
    });
    data.push({
      type: "scatter", mode: "lines", name: `inputs of the batch's ${windows.starts.length} window(s), ${T} steps each`,
      x: wx, y: wy, connectgaps: false, line: { color: WINDOW_LINE, width: 5 }, hoverinfo: "skip",
    });
    data.push({
      type: "scatter", mode: "markers", name: "the next value each window predicts",
      x: windows.starts.map((p) => p + T), y: windows.starts.map((p) => z[p + T]),
      customdata: windows.starts.map((p, n) => [n, p]),
      marker: { color: OVERFLOW_COLOUR, symbol: "x", size: 9 },
      hovertemplate: "window %{customdata[0]} (inputs from %{customdata[1]}) predicts position %{x}: z = %{y:.3f}<extra></extra>",
    });
  }
  return {
    data,
    layout: {
      xaxis: { ...AXIS, ...integerTicks(Math.max(1, z.length - 1), 8), title: { text: "position in the series (0 = first value)", standoff: 4 } },
      yaxis: { ...AXIS, title: { text: "normalised value z", standoff: 4 } },
      shapes,
      showlegend: true,
      legend: { orientation: "h", x: 0, y: 1.02, yanchor: "bottom", font: { size: 12 } },
      margin: { t: 30 },
    },
  };
}

/** The note under the chart: what is normalised by what, and which windows are marked. */
export function seriesNote(echoed, windows) {
  const head = `${echoed.name}: ${echoed.length} values, z = (value − ${fmtNum(echoed.mean)}) / ${fmtNum(echoed.std)}.`;
  if (!windows) return `${head} The batch's windows appear with the trace of this setting.`;
  return `${head} ${windows.starts.length} window(s) of ${windows.seq_len} steps in this trace's batch; ` +
    `the dashed one (from position ${windows.starts[0]}) is the sample the unit views show.`;
}

export class SeriesView {
  /**
   * @param {HTMLElement} figure  the #view-series figure, hidden while no series is uploaded
   * @param {import('./charts.js').Chart} chart
   * @param {HTMLElement} note
   * @param {import('./state.js').PageState} state
   */
  constructor(figure, chart, note, state) {
    Object.assign(this, { figure, chart, note, state, trace: null, drawn: null });
    state.listen((change) => {
      if (change.type === "uploads" && change.kind === "series") this.paint();
    });
  }

  /** A new trace is on show (its start frame). */
  setTrace(trace) {
    this.trace = trace;
    this.paint();
  }

  /** The trace's windows when it was made with this very series, else null. */
  windows(echoed) {
    const tr = this.trace;
    const { incoming, shown } = this.state.view;
    const tag = tr && incoming && incoming.run === tr.run ? incoming.uploads : tr && shown && shown.run === tr.run ? shown.uploads : null;
    const made = tag != null && tag.split(" ").includes(`series:${echoed.sha256}`);
    return made && tr.start.windows ? tr.start.windows : null;
  }

  paint() {
    const u = this.state.uploadActive("series") ? this.state.uploads.series.echoed : null;
    this.figure.hidden = !u;
    if (!u) {
      this.drawn = null;
      this.chart.reset();
      return;
    }
    const windows = this.windows(u);
    const key = `${u.sha256} ${windows ? JSON.stringify(windows) : ""}`;
    if (this.drawn === key) return;
    this.drawn = key;
    const { data, layout } = seriesFigure(u, windows);
    this.chart.draw(data, layout);
    this.note.textContent = seriesNote(u, windows);
  }
}
