// A drag's paint: only the data, on a canvas over a chart Plotly has drawn, its axes, colour bars, legend and
// annotations left as they are.  Plotly redraws all of those on every react whose data changed, and in a drag
// they are most of each frame (docs/performance/paint.md); the data alone is a few milliseconds.
//
// Exact or not at all: a figure is painted this way only when it differs from the one Plotly drew in its data
// alone (the same traces, styles, layout but for the axes' ranges) and every value lies inside the axes' ranges
// and the colour ranges Plotly drew, so each point is where the chart's own axes say its number is and each cell
// has the colour the colour bar gives its value.  Anything else (a value out of range, a trace more or less, a
// marker symbol or line shape drawn here in no way) is left to Plotly.  The lines are the view's own points (the
// min–max envelope of envelope.js, which keeps every spike and zero); once the drag ends Plotly draws the figure.

import { axisOf, clearMarks, markMoves, span, unplaced } from "./quick_marks.js";

const DATA_KEYS = new Set(["x", "y", "z", "text", "hovertext", "customdata", "zmin", "zmax"]);
// Where Plotly keeps a chart's traces (plotly.js 4: each subplot's "overplot" group), hidden under the canvas.
const TRACE_LAYERS = ".cartesianlayer .overplot";
const SYMBOLS = new Set(["circle", "circle-open", "triangle-up", "triangle-up-open", "triangle-down",
  "triangle-down-open"]);

/** What a figure draws besides its data: equal for two figures that differ in their numbers only. */
export function figureShape(traces, layout) {
  const style = traces.map((t) => Object.fromEntries(Object.entries(t).filter(([k]) => !DATA_KEYS.has(k))));
  const frame = {};
  for (const [k, v] of Object.entries(layout)) {
    if (k === "datarevision") continue;
    // The ticks' spacing is chosen from the range (a seq_len drag's time axis): the drawn ticks still say where the
    // numbers painted between them are.
    frame[k] = /^[xy]axis\d*$/.test(k) && v ? { ...v, range: undefined, dtick: undefined, tick0: undefined } : v;
  }
  // Notes and shapes placed at values (the norms view's "exactly 0" at the data's floor, its line at the scored step)
  // move with the data.
  Object.assign(frame, unplaced(layout));
  // Marker sizes may come as an array a point (a lag row's chosen step): their values are style, not data.
  return JSON.stringify([style, frame, traces.map((t) => (Array.isArray(t.marker?.size) ? t.marker.size : null))]);
}

/** Whether the value `v` (data units) lies inside the axis' drawn range (category axes: one of its categories). */
function inside(ax, v, range) {
  const l = ax.d2l(v);
  return Number.isFinite(l) && l >= range[0] - 1e-9 && l <= range[1] + 1e-9;
}

function everyPoint(t, fn) {
  const n = t.y ? t.y.length : 0;
  for (let i = 0; i < n; i++) {
    const x = t.x ? t.x[i] : i;
    const y = t.y[i];
    if (x === null || y === null || x === undefined || y === undefined) continue;
    if (!fn(x, y, i)) return false;
  }
  return true;
}

/**
 * Whether a point's coordinate `v` on axis `ax` is shown as the view's own figure would show it: inside the drawn
 * range, or outside the range the view's layout fixes for that axis (`own`, [lo, hi] or null), where Plotly clips it
 * too (the LSTM's memory-path product far below its axis).
 */
function shownAlike(ax, v, drawnRange, own) {
  return inside(ax, v, drawnRange) || (own !== null && !inside(ax, v, own));
}

/** The range the view's `layout` fixes for axis `ax` ([lo, hi] in Plotly's linear units), or null when it has none. */
function ownRange(layout, ax) {
  const mine = layout[ax._name];
  if (!mine || mine.autorange !== false || !Array.isArray(mine.range)) return null;
  const [a, b] = mine.range.map((r) => ax.r2l(r));
  return [Math.min(a, b), Math.max(a, b)];
}

/** Whether trace `t` (as the view built it) can be drawn exactly over `drawn`, Plotly's full trace of the chart. */
function fits(t, drawn, full, layout) {
  if (t.visible === false || t.visible === "legendonly") return true;
  const xa = axisOf(full, t.xaxis, "x");
  const ya = axisOf(full, t.yaxis, "y");
  if (!xa || !ya || !xa.range || !ya.range) return false;
  const [xr, yr] = [span(xa), span(ya)];
  if (t.type === "scatter") {
    const mode = t.mode || "lines";
    if (/text/.test(mode) || t.fill && t.fill !== "none" || (t.line?.shape && t.line.shape !== "linear")) return false;
    if (/markers/.test(mode) && !SYMBOLS.has(t.marker?.symbol || "circle")) return false;
    const [xo, yo] = [ownRange(layout, xa), ownRange(layout, ya)];
    return everyPoint(t, (x, y) => shownAlike(xa, x, xr, xo) && shownAlike(ya, y, yr, yo));
  }
  if (t.type === "heatmap") {
    if (t.zsmooth && t.zsmooth !== "fast") return false;
    const lo = drawn.zmin;
    const hi = drawn.zmax;
    for (const row of t.z) {
      for (const v of row) if (v !== null && v !== undefined && !(v >= lo && v <= hi)) return false;
    }
    return (t.x || []).every((x) => inside(xa, x, xr)) && (t.y || []).every((y) => inside(ya, y, yr));
  }
  return false;
}

/**
 * Paint `traces` (the view's new figure, same shape as the one drawn, with `layout`) over chart element `el` on its
 * canvas, hide Plotly's drawing of the old data, and move the notes placed at values to the new values.  Returns
 * false, painting nothing, when it cannot be exact.
 */
export function quickPaint(el, traces, layout = {}) {
  const full = el._fullLayout;
  const drawn = el._fullData;
  if (!full || !drawn || drawn.length !== traces.length) return false;
  for (let i = 0; i < traces.length; i++) if (!fits(traces[i], drawn[i], full, layout)) return false;
  const moves = markMoves(el, full, layout);
  if (!moves) return false;
  for (const [g, dx, dy] of moves) g.style.transform = `translate(${dx}px, ${dy}px)`;
  const ctx = canvasOf(el, full);
  for (let i = 0; i < traces.length; i++) {
    const t = traces[i];
    if (t.visible === false || t.visible === "legendonly") continue;
    const xa = axisOf(full, t.xaxis, "x");
    const ya = axisOf(full, t.yaxis, "y");
    ctx.save();
    ctx.beginPath();
    ctx.rect(xa._offset, ya._offset, xa._length, ya._length);
    ctx.clip();
    ctx.globalAlpha = drawn[i].opacity ?? 1;
    if (t.type === "heatmap") heatmap(ctx, t, drawn[i], xa, ya);
    else scatter(ctx, t, drawn[i], xa, ya);
    ctx.restore();
  }
  for (const g of el.querySelectorAll(TRACE_LAYERS)) g.style.visibility = "hidden";
  return true;
}

/**
 * A drag's figure that does not fit what is drawn, for Plotly to draw: `[traces, layout]` with each numeric axis
 * range and each heatmap's colour range holding the drawn one too, widened by half where it grew, so that the
 * next frames of the drag fit and are painted quickly.  The axes and colour bars Plotly draws say the ranges held;
 * when the drag ends the view's own figure is drawn.
 */
export function heldRanges(el, traces, layout) {
  const full = el._fullLayout;
  const drawn = el._fullData || [];
  const out = { ...layout };
  for (const [k, ax] of Object.entries(layout)) {
    const was = full?.[k];
    if (!/^[xy]axis\d*$/.test(k) || !ax || ax.autorange !== false || !Array.isArray(ax.range) || !was?.range) continue;
    if (!["linear", "log", undefined].includes(ax.type) || !(ax.range[0] < ax.range[1])) continue;
    out[k] = { ...ax, range: widen(ax.range, was.range) };
  }
  const held = traces.map((t, i) => {
    const d = drawn[i];
    const ranged = [t.zmin, t.zmax, d?.zmin, d?.zmax].every(Number.isFinite);
    if (t.type !== "heatmap" || !ranged) return t;
    const [zmin, zmax] = widen([t.zmin, t.zmax], [d.zmin, d.zmax]);
    return { ...t, zmin, zmax };
  });
  return [held, out];
}

/**
 * The range holding `now` and `was` ([low, high] each), half as wide again on each side where `now` goes past `was`:
 * a drag keeps going the way it went (a seq_len drag's time axis grows a step a frame), and each redraw by Plotly is
 * a frame lost.
 */
function widen(now, was) {
  const lo = Math.min(now[0], was[0]);
  const hi = Math.max(now[1], was[1]);
  const pad = (hi - lo) / 2;
  return [now[0] < was[0] ? lo - pad : lo, now[1] > was[1] ? hi + pad : hi];
}

/** Plotly's own drawing back in sight, the canvas cleared (Plotly has drawn the figure). */
export function quickClear(el) {
  const canvas = el.querySelector("canvas.quick-paint");
  if (canvas) canvas.remove();
  for (const g of el.querySelectorAll(TRACE_LAYERS)) g.style.visibility = "";
  clearMarks(el);
}

function canvasOf(el, full) {
  let canvas = el.querySelector("canvas.quick-paint");
  const svg = el.querySelector(".main-svg");
  if (!canvas) {
    canvas = el.ownerDocument.createElement("canvas");
    canvas.className = "quick-paint";
    canvas.setAttribute("aria-hidden", "true");
    canvas.style.cssText = "position: absolute; left: 0; top: 0; pointer-events: none";
    svg.after(canvas);
  }
  const ratio = window.devicePixelRatio || 1;
  const [w, h] = [Math.round(full.width * ratio), Math.round(full.height * ratio)];
  if (canvas.width !== w || canvas.height !== h) {
    [canvas.width, canvas.height] = [w, h];
    canvas.style.width = `${full.width}px`;
    canvas.style.height = `${full.height}px`;
  }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, full.width, full.height);
  return ctx;
}

const DASHES = { dot: [2, 3], dash: [6, 4], dashdot: [6, 3, 2, 3], longdash: [10, 4], solid: [] };

function scatter(ctx, t, drawn, xa, ya) {
  const px = (x) => xa._offset + xa.c2p(xa.d2c(x));
  const py = (y) => ya._offset + ya.c2p(ya.d2c(y));
  const mode = drawn.mode || "lines";
  if (/lines/.test(mode) && drawn.line && drawn.line.width > 0) {
    ctx.strokeStyle = drawn.line.color;
    ctx.lineWidth = drawn.line.width;
    ctx.setLineDash((DASHES[drawn.line.dash] || []).map((d) => d * Math.max(1, drawn.line.width / 2)));
    ctx.lineJoin = "round";
    ctx.beginPath();
    let pen = false;
    const n = t.y.length;
    for (let i = 0; i < n; i++) {
      const x = t.x ? t.x[i] : i;
      const y = t.y[i];
      if (x === null || y === null || x === undefined || y === undefined) {
        pen = drawn.connectgaps ? pen : false;
        continue;
      }
      if (pen) ctx.lineTo(px(x), py(y));
      else ctx.moveTo(px(x), py(y));
      pen = true;
    }
    ctx.stroke();
    ctx.setLineDash([]);
  }
  if (/markers/.test(mode)) {
    const m = drawn.marker || {};
    const symbol = m.symbol || "circle";
    const open = symbol.endsWith("-open");
    everyPoint(t, (x, y, i) => {
      const size = Array.isArray(m.size) ? m.size[i] : m.size ?? 6;
      const colour = Array.isArray(m.color) ? m.color[i] : m.color;
      if (size > 0) marker(ctx, symbol, px(x), py(y), size / 2, colour, open, m.line);
      return true;
    });
  }
}

/** A marker of radius `r` at (x, y): a circle, or a triangle pointing up or down (the views' inf and 0 marks). */
function marker(ctx, symbol, x, y, r, colour, open, line) {
  ctx.beginPath();
  const tip = symbol.startsWith("triangle-up") ? -r : symbol.startsWith("triangle-down") ? r : 0;
  if (tip) {
    ctx.moveTo(x, y + tip);
    ctx.lineTo(x + r, y - tip * 0.8);
    ctx.lineTo(x - r, y - tip * 0.8);
  } else ctx.arc(x, y, r, 0, 2 * Math.PI);
  ctx.closePath();
  if (open) {
    ctx.strokeStyle = colour;
    ctx.lineWidth = line?.width ?? 1;
    ctx.stroke();
    return;
  }
  ctx.fillStyle = colour;
  ctx.fill();
  if (line?.width > 0) {
    ctx.strokeStyle = line.color;
    ctx.lineWidth = line.width;
    ctx.stroke();
  }
}

/** The cells' edges along an axis, in pixels: midway between neighbouring centres, half a step past the ends. */
function edges(ax, centres) {
  const c = centres.map((v) => ax.d2l(v));
  const out = new Float64Array(c.length + 1);
  for (let i = 1; i < c.length; i++) out[i] = (c[i - 1] + c[i]) / 2;
  out[0] = c.length > 1 ? c[0] - (c[1] - c[0]) / 2 : c[0] - 0.5;
  out[c.length] = c.length > 1 ? c[c.length - 1] + (c[c.length - 1] - c[c.length - 2]) / 2 : c[0] + 0.5;
  return Array.from(out, (l) => ax._offset + ax.l2p(l));
}

/** Whether pixel edges `e` are evenly spaced (within a pixel's tenth over the whole span). */
function even(e) {
  const step = (e[e.length - 1] - e[0]) / (e.length - 1);
  return e.every((v, i) => Math.abs(v - (e[0] + i * step)) < 0.1 + Math.abs(step) * 1e-3);
}

function heatmap(ctx, t, drawn, xa, ya) {
  const rows = t.z.length;
  const cols = rows ? t.z[0].length : 0;
  if (!rows || !cols) return;
  const xs = edges(xa, t.x || Array.from({ length: cols }, (_, i) => i));
  const ys = edges(ya, t.y || Array.from({ length: rows }, (_, i) => i));
  const lut = colourTable(ctx, drawn.colorscale);
  const { zmin, zmax } = drawn;
  const index = (v) => Math.min(255, Math.max(0, zmax > zmin ? Math.round(((v - zmin) / (zmax - zmin)) * 255) : 0));
  if (even(xs) && even(ys)) {
    // One pixel a cell, scaled to the plot by the browser, as Plotly draws a heatmap with zsmooth "fast".  The
    // image's rows run down the screen and its columns rightwards, whichever way the axes run.
    const [down, right] = [ys[rows] > ys[0], xs[cols] > xs[0]];
    const image = new ImageData(cols, rows);
    for (let r = 0; r < rows; r++) {
      const row = t.z[r];
      const at = (down ? r : rows - 1 - r) * cols;
      for (let c = 0; c < cols; c++) {
        const v = row[c];
        if (v === null || v === undefined) continue;
        image.data.set(lut.bytes[index(v)], (at + (right ? c : cols - 1 - c)) * 4);
      }
    }
    const cells = new OffscreenCanvas(cols, rows);
    cells.getContext("2d").putImageData(image, 0, 0);
    const [left, top] = [Math.min(xs[0], xs[cols]), Math.min(ys[0], ys[rows])];
    ctx.drawImage(cells, left, top, Math.abs(xs[cols] - xs[0]), Math.abs(ys[rows] - ys[0]));
    return;
  }
  for (let r = 0; r < rows; r++) {
    const row = t.z[r];
    const y0 = Math.min(ys[r], ys[r + 1]);
    for (let c = 0; c < cols; c++) {
      const v = row[c];
      if (v === null || v === undefined) continue;
      ctx.fillStyle = lut.css[index(v)];
      const x0 = Math.floor(xs[c]); // each cell out to the next edge: no hairline between neighbours
      ctx.fillRect(x0, Math.floor(y0), Math.ceil(xs[c + 1]) - x0, Math.ceil(Math.abs(ys[r + 1] - ys[r])) + 1);
    }
  }
}

const TABLES = new Map();

/**
 * 256 colours along a Plotly colour scale ([[fraction, colour], ...]), interpolated in RGB as Plotly does: as CSS
 * (`css`) and as RGBA bytes (`bytes`).
 */
function colourTable(ctx, scale) {
  const key = JSON.stringify(scale);
  if (TABLES.has(key)) return TABLES.get(key);
  const stops = scale.map(([f, c]) => [Number(f), rgba(ctx, c)]);
  const table = { css: [], bytes: [] };
  for (let k = 0; k < 256; k++) {
    const f = k / 255;
    let j = 1;
    while (j < stops.length - 1 && stops[j][0] < f) j++;
    const [f0, a] = stops[j - 1];
    const [f1, b] = stops[j];
    const w = f1 > f0 ? Math.min(1, Math.max(0, (f - f0) / (f1 - f0))) : 0;
    const mix = a.map((v, i) => v + (b[i] - v) * w);
    const [red, green, blue] = mix.slice(0, 3).map(Math.round);
    table.css.push(`rgba(${red}, ${green}, ${blue}, ${mix[3]})`);
    table.bytes.push(Uint8ClampedArray.of(red, green, blue, Math.round(mix[3] * 255)));
  }
  TABLES.set(key, table);
  return table;
}

/** [r, g, b, a] of any CSS colour, as the canvas reads it. */
function rgba(ctx, colour) {
  ctx.fillStyle = "#000";
  ctx.fillStyle = colour;
  const s = ctx.fillStyle;
  if (s.startsWith("#")) return [1, 3, 5].map((i) => parseInt(s.slice(i, i + 2), 16)).concat(1);
  const m = s.match(/[\d.]+/g).map(Number);
  return [m[0], m[1], m[2], m[3] ?? 1];
}
