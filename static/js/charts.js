// A chart widget with a tiny surface (reset, draw, download) over Plotly.js,
// plus the helpers every view shares: colour-blind-safe colours and the
// clamping that lets log axes show 0 and inf honestly.

/* global Plotly */

import { specialText } from "./envelope.js";
import { figureShape, heldRanges, quickClear, quickPaint } from "./quick_paint.js";
import { chartTheme, darkScheme, themeLayout, themeTraces } from "./theme.js";
import { rove } from "./roving.js";
import { downloadSlide } from "./slide_png.js";

// Okabe–Ito: distinguishable under the common colour-vision deficiencies.
export const LINE_COLOURS = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#000000", "#999933"];
export const OVERFLOW_COLOUR = "#D55E00"; // vermillion: inf / NaN
export const UNDERFLOW_COLOUR = "#7f7f7f"; // grey: exactly 0
// Heatmap overlays for non-finite / zero cells: colours that Viridis never uses.
export const OVERFLOW_CELL = "#ff3fa0";
export const UNDERFLOW_CELL = "#bdbdbd";

/** A legend's swatches (.swatch-zero, .swatch-overflow under `root`) in the heatmaps' own colours for 0 and inf / NaN. */
export function paintSwatches(root) {
  for (const el of root.querySelectorAll(".swatch-zero")) el.style.background = UNDERFLOW_CELL;
  for (const el of root.querySelectorAll(".swatch-overflow")) el.style.background = OVERFLOW_CELL;
}

const PLOTLY_CONFIG = {
  displaylogo: false,
  // A touch screen cannot hover, and a permanent mode bar would cover the plot; PNG buttons remain.
  displayModeBar: window.matchMedia("(hover: none)").matches ? false : "hover",
  responsive: true,
  // Nothing on this page may talk to another host, so no cloud-share button.
  modeBarButtonsToRemove: ["sendChartToCloud", "lasso2d", "select2d", "toImage"],
  toImageButtonOptions: { format: "png", scale: 2 },
};

const BASE_LAYOUT = {
  margin: { l: 64, r: 16, t: 8, b: 44 },
  font: { family: "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif", size: 12 }, // colours: theme.js
  showlegend: false,
  hoverlabel: { namelength: -1 },
};

// Every chart drawn, so that each is drawn again in the new colours when the system's theme changes; the theme's
// colours read once per theme, not on every draw of a drag.
const DRAWN = new Set();
let theme = null;
darkScheme.addEventListener?.("change", () => {
  theme = null;
  for (const chart of DRAWN) if (chart.drawn && chart.last) chart.draw(...chart.last);
});

// While a slider is dragged, a chart Plotly has drawn takes a new figure that differs in its numbers alone on a
// canvas over its axes (quick_paint.js); when the drag ends, Plotly draws each such chart's last figure.
let dragging = false;

/** A slider drag begins (`on`) or ends: at its end every chart painted quickly is drawn by Plotly. */
export function dragPaint(on) {
  dragging = on;
  if (!on) for (const chart of DRAWN) chart.settle();
}

export class Chart {
  /** @param {HTMLElement} el  the element Plotly draws into; its id names downloads */
  constructor(el) {
    this.el = el;
    this.drawn = false;
    this.handlers = []; // [Plotly event name, fn] (on())
    this.listening = false; // whether the handlers are bound to the element Plotly drew
    // The view's PNG button, Plotly's tools and the view's enlarge control (present.js) are one tab stop (roving.js):
    // Tab reaches one, the arrow keys move between them.  Without this each chart adds eight stops.
    const figure = el.closest("figure") || el;
    const png = () => [...figure.querySelectorAll(`button[data-png="${el.id}"]`)];
    const enlarge = () => [...figure.querySelectorAll(":scope > header > .enlarge")];
    this.tools = rove(figure, () => [...png(), ...el.querySelectorAll(".modebar-btn"), ...enlarge()]);
    // The element's width, kept by an observer: reading it while drawing would force a layout after every chart.
    this.width = el.clientWidth;
    if (typeof ResizeObserver === "function") new ResizeObserver(([e]) => (this.width = e.contentRect.width)).observe(el);
  }

  /** Draw `traces` with `layout` (merged over the house layout); Plotly.react diffs against the last draw. */
  draw(traces, layout = {}) {
    this.last = [traces, layout];
    theme ||= chartTheme();
    let full = themeLayout({ ...BASE_LAYOUT, ...layout, margin: { ...BASE_LAYOUT.margin, ...(layout.margin || {}) } }, theme);
    traces = themeTraces(traces, theme);
    full.datarevision = (this.revision = (this.revision || 0) + 1);
    // Plotly.react cannot add subplots to a drawn chart: the new axis is laid out before its domain is known and
    // its lines get a NaN path (the gates view going from GRU's three gates to LSTM's four).  A new set of axes
    // is drawn afresh.
    const axisKeys = Object.keys(full).filter((k) => /^[xy]axis\d*$/.test(k));
    for (const k of axisKeys) full[k] = { ticklabeloverflow: "allow", ...full[k] };
    const axes = axisKeys.sort().join();
    const shape = figureShape(traces, full);
    const same = dragging && this.drawn && axes === this.axes && shape === this.shape;
    if (same && quickPaint(this.el, traces, full)) {
      this.exact = false;
      this.quickPaints = (this.quickPaints || 0) + 1; // read by the benches
      return;
    }
    // A drag's value outside what is drawn: Plotly draws it, over ranges that hold the drawn ones (quick_paint.js).
    if (same) [traces, full] = heldRanges(this.el, traces, full);
    this.exact = !same;
    this.shape = shape;
    quickClear(this.el);
    if (this.drawn && axes !== this.axes) this.reset();
    this.axes = axes;
    // The config never changes: given again, Plotly.react deep-copies and compares the whole plot context each
    // time (several ms a chart on every repaint of a drag).
    const drawn = this.drawn ? Plotly.react(this.el, traces, full) : Plotly.react(this.el, traces, full, PLOTLY_CONFIG);
    this.drawn = true;
    DRAWN.add(this);
    this.listen();
    this.toolbarOneStop();
    if (drawn && drawn.then) drawn.then(() => this.toolbarOneStop());
  }

  /**
   * `fn(points)` on Plotly's event `name` ("plotly_click", "plotly_hover", ...) with the event's points (none on
   * "plotly_unhover").  Plotly gives the element its events when it draws and takes them back when purged (reset()),
   * so the handlers live here and are bound again after each first draw.
   */
  on(name, fn) {
    this.handlers.push([name, fn]);
    if (this.listening) this.el.on(name, (ev) => fn(ev?.points ?? []));
  }

  listen() {
    if (this.listening || typeof this.el.on !== "function") return;
    this.listening = true;
    for (const [name, fn] of this.handlers) this.el.on(name, (ev) => fn(ev?.points ?? []));
  }

  /**
   * Plotly draws the last figure as the view gave it, if a drag painted it quickly or over held ranges (the drag
   * has ended, or the chart is to be saved).
   */
  settle() {
    if (this.exact !== false) return;
    const was = dragging;
    dragging = false;
    this.draw(...this.last);
    dragging = was;
  }

  /** The mode bar, drawn anew by Plotly, joins the view's one tab stop. */
  toolbarOneStop() {
    const bar = this.el.querySelector(".modebar");
    if (!bar) return;
    bar.setAttribute("role", "toolbar");
    bar.setAttribute("aria-label", "Chart tools (arrow keys move between them)");
    this.tools.refresh();
  }

  /**
   * Device pixels across the plot area (the element less the house margins): a view never needs more points or
   * heatmap columns than this (envelope.js).  Before the element has a width, a generous guess.
   */
  columns() {
    const css = this.width > 0 ? this.width - BASE_LAYOUT.margin.l - BASE_LAYOUT.margin.r : 1200;
    return Math.max(64, Math.round(css * (window.devicePixelRatio || 1)));
  }

  /** Forget the last draw (a new run with a different shape). */
  reset() {
    DRAWN.delete(this);
    if (this.drawn) Plotly.purge(this.el);
    this.drawn = false;
    this.listening = false;
  }

  /** A PNG of the view as it is now, made for a slide (slide_png.js); `words` = {title, setting}. */
  download(filename, words) {
    if (!this.drawn) return Promise.resolve();
    this.settle();
    return downloadSlide(this.el, filename, words);
  }
}

/** Smallest positive finite and largest finite of the values (null when none). */
export function finiteRange(values) {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (v === null || !Number.isFinite(v) || v <= 0) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return lo === Infinity ? null : { lo, hi };
}

/**
 * Place values on a log axis: 0 goes to `floor`, inf/NaN to `ceil`.
 * Returns the clamped series plus the indices that were clamped, so each
 * can be drawn with its own marker rather than vanishing.
 */
export function clampForLog(values, floor, ceil) {
  const y = new Array(values.length);
  const zeros = [];
  const overs = [];
  values.forEach((v, i) => {
    if (v === null || v === undefined) y[i] = null;
    else if (!Number.isFinite(v)) {
      y[i] = ceil;
      overs.push(i);
    } else if (v <= 0) {
      y[i] = floor;
      zeros.push(i);
    } else y[i] = v;
  });
  return { y, zeros, overs };
}

/** The log-axis window for positive finite values spanning lo..hi, with room for the clamp rows. */
export function logWindow(range) {
  if (!range) return { floor: 1e-8, ceil: 1e2, lo: 1e-8, hi: 1e2 };
  const lo = Math.min(range.lo, range.hi / 10);
  const hi = Math.max(range.hi, range.lo * 10);
  return { floor: lo / 10, ceil: hi * 10, lo, hi };
}

/** log10|v| for a heatmap cell, or null; zeros and non-finite values are reported separately. */
export function log10Abs(v) {
  if (!Number.isFinite(v) || v === 0) return null;
  return Math.log10(Math.abs(v));
}

/**
 * Heatmap overlay marking cells that are exactly 0 or non-finite, each in a colour the main scale never uses;
 * `where` is the hover's text for a cell (Plotly's %{x} and %{y}).
 */
export function specialCellsOverlay(rows, x, y, axes = {}, where = "t = %{x}, %{y}") {
  let any = false;
  const z = rows.map((row) => row.map((v) => {
    if (v === null) return null;
    if (!Number.isFinite(v)) {
      any = true;
      return 1;
    }
    if (v === 0) {
      any = true;
      return 0;
    }
    return null;
  }));
  if (!any) return null;
  return {
    type: "heatmap", z, x, y, ...axes, zmin: 0, zmax: 1, showscale: false, hoverongaps: false,
    colorscale: [[0, UNDERFLOW_CELL], [0.5, UNDERFLOW_CELL], [0.5, OVERFLOW_CELL], [1, OVERFLOW_CELL]],
    hovertemplate: `${where}: %{customdata}<extra></extra>`,
    customdata: rows.map((row) => Array.from(row, (v) => (v === null ? "" : specialText(v)))),
  };
}

/**
 * Ticks for an axis of whole numbers 0..span: a 1-2-5 step giving at most about `most` labels, never below 1,
 * so a one-step axis reads "0" once instead of "0 0 0 0 0" (Plotly's own ticks would fall between the integers).
 */
export function integerTicks(span, most = 6) {
  const raw = Math.max(1, span / most);
  const p = 10 ** Math.floor(Math.log10(raw));
  const dtick = [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw);
  return { tickmode: "linear", tick0: 0, dtick, tickformat: "d" };
}

/**
 * The tick step, in decades, of a log axis spanning `decades`: every power of ten while they fit, else every
 * second, fifth... so that a divergence (10¹ … 10¹⁹) does not pile its labels on each other.
 */
export function decadeStep(decades, most = 6) {
  return integerTicks(decades, most).dtick;
}

/** Label of a (layer, direction) pair as the field writes it. */
export function layerLabel(l, d, D) {
  return D > 1 ? `layer ${l + 1} ${d ? "←" : "→"}` : `layer ${l + 1}`;
}

/** Compact number for the summary panel and annotations. */
export function fmtNum(v, digits = 3) {
  if (v === null || v === undefined) return "–";
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "inf";
  if (v === -Infinity) return "−inf";
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-3) return v.toExponential(digits - 1).replace("e+", "e");
  return Number(v.toPrecision(digits)).toString();
}

