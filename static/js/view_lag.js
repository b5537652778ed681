// The lag map's charts: the heatmap "where the gradient at step t comes from" (output step s down, state step t
// across, log colour; grey where the gradient underflowed to exactly 0, blank where the output does not depend
// on that step) and the lag curves (how much of an output's gradient is left k steps back, with the theory's bound
// beside it), for one run or for compare mode's settings side by side.

import { UNDERFLOW_COLOUR, clampForLog, finiteRange, integerTicks, logWindow, specialCellsOverlay } from "./charts.js";
import { handoffMarks } from "./handoff.js";
import { lagBound, mapCells } from "./lag.js";
import { edgeLabel, timeAxis } from "./view_norms.js";

const AXIS = { zeroline: false, gridcolor: "#e6e6e6", linecolor: "#888", ticks: "outside", ticklen: 4 };
export const ROW_COLOUR = "#000000";
export const LAG_COLOUR = "#0072B2";

/** A map's lag curve for layer l, direction d, as drawLagCurves takes it, with the bound `theory` gives (else none). */
export function curveEntry(map, l, d, { theory = null, name = "median over the outputs", colour = LAG_COLOUR } = {}) {
  return { name, colour, curve: map.curve(l, d), bound: lagBound(theory, map.L, l, d) };
}

/** The lower and upper edge of row i's cells on a y axis of `steps` (Plotly puts a cell's edges halfway to its neighbours). */
function rowEdges(steps, i) {
  const s = steps[i];
  const below = i > 0 ? (s - steps[i - 1]) / 2 : i + 1 < steps.length ? (steps[i + 1] - s) / 2 : 0.5;
  const above = i + 1 < steps.length ? (steps[i + 1] - s) / 2 : below;
  return [s - below, s + above];
}

/**
 * The heatmap of one lag map.
 * @param {import('./charts.js').Chart} chart
 * @param {import('./lag.js').LagMap} map
 * @param {object} o  `which`: 'h' (the states of layer l, direction d) or 'x' (the inputs); `tbptt`: the window
 *   length the run was traced with; `selected`: the output step marked (drawn over the main chart), or null;
 *   `range`: a colour range {lo, hi} (log10) shared with other maps, else the map's own; `start`: the run's start
 *   frame (the encoder–decoder's handoff line)
 * Returns the cells drawn (lag.js mapCells).
 */
export function drawLagMap(chart, map, { which = "h", l = 0, d = 0, tbptt = 0, selected = null, range = null, start = null } = {}) {
  const cells = mapCells(map, which, l, d, tbptt);
  const r = range || cells.range || { lo: -8, hi: 0 };
  const lo = Math.min(r.lo, r.hi - 1);
  const x = Array.from({ length: map.T }, (_, t) => t);
  const y = map.outputSteps;
  const part = which === "x" ? "∂L/∂x_t" : "∂L/∂h_t";
  const data = [{
    type: "heatmap", x, y, z: cells.z, customdata: cells.custom, zmin: lo, zmax: r.hi, colorscale: "Viridis",
    hoverongaps: false, colorbar: { title: { text: `log₁₀‖part of ${part}‖`, side: "right" }, thickness: 12 },
    hovertemplate: `output step s = %{y}, step t = %{x}, lag %{customdata[1]}<br>‖the part of ${part} from output s‖ = `
      + "%{customdata[0]}<extra></extra>",
  }];
  const special = specialCellsOverlay(cells.rows, x, y, {}, "output step s = %{y}, step t = %{x}");
  if (special) data.push(special);
  const shapes = [];
  const i = selected === null ? -1 : y.indexOf(selected);
  if (i >= 0) {
    const [y0, y1] = rowEdges(y, i);
    shapes.push({ type: "rect", xref: "paper", x0: 0, x1: 1, yref: "y", y0, y1, line: { color: ROW_COLOUR, width: 2 } });
  }
  const handoff = handoffMarks(start);
  chart.draw(data, {
    xaxis: timeAxis(map.T, which === "x" ? "input step t" : "state step t"),
    yaxis: { ...AXIS, showgrid: false, title: { text: "output step s", standoff: 4 }, autorange: "reversed",
      ...(y.length > 1 ? integerTicks(y[y.length - 1] - y[0]) : { tickvals: y }) },
    margin: { t: handoff.annotations.length ? 20 : 8 },
    shapes: [...shapes, ...handoff.shapes], annotations: handoff.annotations,
  });
  return cells;
}

/**
 * Lag curves on a log axis against the lag k: for each entry the median share of an output's gradient left k steps
 * back, and the entry's bound (γ·σ_max)^k dotted in its colour where it has one.  Exact zeros sit on the axis's floor
 * with their own marker.
 * @param {Array<{name: string, colour: string, curve: Array<number|null>, bound: Array<number|null>|null}>} entries
 * @param {{empty?: string, zeros?: string}} o  `empty`: what the chart says when there is no entry; `zeros`: what an
 *   exact zero is (with truncated BPTT most are the cut's, not underflow)
 */
export function drawLagCurves(chart, entries, { empty = "no lag map yet", zeros: zeroText = "exactly 0 (underflow)" } = {}) {
  const K = Math.max(1, ...entries.map((e) => e.curve.length));
  const range = finiteRange(entries.flatMap((e) => e.curve));
  // Room above for a bound that grows (γ·σ_max > 1), up to four decades over the curves.
  const bounds = finiteRange(entries.flatMap((e) => e.bound || []));
  if (range && bounds) range.hi = Math.max(range.hi, Math.min(bounds.hi, range.hi * 1e4));
  const win = range ? logWindow(range) : { floor: 1e-8, ceil: 10 };
  const data = [];
  const zeros = { x: [], y: [], text: [] };
  const k = (y) => y.map((_, i) => i);
  for (const e of entries) {
    const c = clampForLog(e.curve, win.floor, win.ceil);
    data.push({ type: "scatter", mode: e.curve.length === 1 ? "markers" : "lines", x: k(e.curve), y: c.y, name: e.name,
      line: { color: e.colour, width: 2.2 }, marker: { color: e.colour, size: 7 },
      hovertemplate: `${e.name}<br>lag k = %{x}: %{y:.3e} of the output's own gradient<extra></extra>` });
    for (const i of c.zeros) {
      zeros.x.push(i);
      zeros.y.push(win.floor);
      zeros.text.push(`${e.name}, lag ${i}: exactly 0`);
    }
    if (e.bound && e.bound.some((v) => v !== null)) {
      const name = `bound (γ·σ<sub>max</sub>)<sup>k</sup>${entries.length > 1 ? `, ${e.name}` : ""}`; // typeset as the page's
      data.push({ type: "scatter", mode: "lines", x: k(e.bound), y: e.bound, name,
        line: { color: e.colour, width: 1.3, dash: "dot" }, opacity: 0.85,
        hovertemplate: `${name}<br>k = %{x}: %{y:.3e}<extra></extra>` });
    }
  }
  const annotations = [];
  if (zeros.x.length) {
    data.push({ type: "scatter", mode: "markers", ...zeros, name: "exactly 0", hovertemplate: "%{text}<extra>underflow</extra>",
      marker: { symbol: "triangle-down-open", size: 8, color: UNDERFLOW_COLOUR, line: { width: 1.5 } } });
    annotations.push(edgeLabel(win.floor, `▼ ${zeroText}`, UNDERFLOW_COLOUR));
  }
  if (!entries.length) {
    annotations.push({ xref: "paper", yref: "paper", x: 0.5, y: 0.5, showarrow: false, font: { size: 13, color: "#666" }, text: empty });
  }
  chart.draw(data, {
    xaxis: { ...AXIS, title: { text: "lag k: steps back from the output", standoff: 6 }, range: [-0.5, K - 0.5],
      autorange: false, ...integerTicks(K - 1) },
    yaxis: { ...AXIS, type: "log", title: { text: "share left (log)", standoff: 4 }, exponentformat: "power",
      range: [Math.log10(win.floor) - 0.15, Math.log10(win.ceil) + 0.15], autorange: false, showticklabels: !!range },
    showlegend: entries.length > 0,
    legend: { orientation: "h", x: 0, y: 1.0, yanchor: "bottom", font: { size: 12 } },
    margin: { t: entries.length ? 28 : 8 },
    annotations,
  });
}
