// The lag map of a run (docs/protocol.md, the `lag` frame): where the gradient at each step comes from.  Row s is
// the part of ∂L/∂h_t, at every state step t, that leaves the network through output step s; summed over the rows
// (as vectors) they give ∂L/∂h_t.  The lag curve says, for each lag k, how much of an output's gradient is left k
// steps back (the median over rows).  This module decodes the frame and prepares what the views draw: the
// heatmap's cells, the lag curve and the theory's bound, one output's row, the CSV.  No DOM, no Plotly: node --test
// loads it.

import { specialText } from "./envelope.js";

/** One lag frame's map: rows over output steps, columns over state steps, for every layer and direction. */
export class LagMap {
  /**
   * @param {object} frame  the `lag` frame: output_steps [S], rows (S), lag_curve [L][D][T]; `step` in a training's
   * @param {ArrayBuffer} payload  float32 little-endian: grad_h_by_output (L, D, S, T), then grad_x_by_output (S, T)
   * @param {{L: number, D: number, T: number}} shapes  the run's (a training's: its train_start shapes)
   * Throws an Error saying what does not fit when the frame and its payload disagree with the shapes.
   */
  constructor(frame, payload, { L, D, T }) {
    const S = frame.rows;
    const steps = frame.output_steps;
    if (!Number.isInteger(S) || S < 0 || !Array.isArray(steps) || steps.length !== S) {
      throw new Error(`the lag frame names ${Array.isArray(steps) ? steps.length : "no"} output steps for ${S} rows`);
    }
    if (steps.some((s, i) => !Number.isInteger(s) || s < 0 || s >= T || (i > 0 && s <= steps[i - 1]))) {
      throw new Error(`the lag frame's output steps must rise from 0 to ${T - 1}`);
    }
    const want = (L * D + 1) * S * T * 4;
    const got = payload ? payload.byteLength : 0;
    if (got !== want) throw new Error(`the lag map holds ${got} bytes; ${S} rows of ${T} steps need ${want}`);
    Object.assign(this, { L, D, T, S, step: frame.step ?? null });
    this.outputSteps = steps;
    const data = new Float32Array(payload);
    this.gradH = data.subarray(0, L * D * S * T); // (L, D, S, T)
    this.gradX = data.subarray(L * D * S * T); // (S, T)
    this.lagCurve = frame.lag_curve; // [L][D][T], NaN where no row reaches lag k
  }

  /** Row i (output step outputSteps[i]) of layer l, direction d: the T values over state steps. */
  row(l, d, i) {
    const from = ((l * this.D + d) * this.S + i) * this.T;
    return this.gradH.subarray(from, from + this.T);
  }

  /** Row i of the inputs' map: ‖(∂out_s/∂x_t)ᵀ ∂L/∂out_s‖ over t. */
  xRow(i) {
    return this.gradX.subarray(i * this.T, (i + 1) * this.T);
  }

  /** The T values of row i of `which` ('h': layer l, direction d; 'x': the inputs). */
  values(which, l, d, i) {
    return which === "x" ? this.xRow(i) : this.row(l, d, i);
  }

  /** The lag curve of layer l, direction d: T numbers, null where no row reaches lag k. */
  curve(l, d) {
    return Array.from(this.lagCurve?.[l]?.[d] ?? [], (v) => (v === null || Number.isNaN(Number(v)) ? null : Number(v)));
  }
}

/** How far back output step s is from state step t: s − t for a forward direction, t − s for a reverse one. */
export function lagOf(s, t, d) {
  return d === 0 ? s - t : t - s;
}

/**
 * For one row (its values over t, direction d), whether the gradient of its output has reached step t: true from the
 * first non-zero value in the order backpropagation visits the steps (descending t forward, ascending reverse), the
 * visit restarting at each truncation window (tbptt = k).  A zero where this is false is structure (the output
 * does not depend on that step: a later one, or one past a cut), not underflow.
 */
export function reachedRow(values, d, tbptt = 0) {
  const T = values.length;
  const out = new Array(T).fill(false);
  let seen = false;
  for (let p = T - 1; p >= 0; p--) {
    if (tbptt > 0 && (p + 1) % tbptt === 0) seen = false;
    const t = d === 0 ? p : T - 1 - p;
    if (values[t] !== 0) seen = true; // NaN !== 0: an overflowed gradient reaches too
    out[t] = seen;
  }
  return out;
}

/** One row as the views show it: the value where the output's gradient reached step t, else null. */
export function rowShown(values, d, tbptt = 0) {
  const reached = reachedRow(values, d, tbptt);
  return Array.from(values, (v, t) => (reached[t] ? v : null));
}

/**
 * The heatmap of `which` ('h' for layer l, direction d; 'x' for the inputs, whose direction is the model's first):
 * `rows` (S × T: the value where reached, else null, for the exact-zero and overflow overlay), `z` (log10 of the
 * positive finite values, else null), `range` ({lo, hi} of z, or null when no value is positive) and `custom`
 * (per cell [the value as text, the lag]) for the hover.
 */
export function mapCells(map, which, l, d, tbptt = 0) {
  const dir = which === "x" ? 0 : d;
  const rows = [];
  const z = [];
  const custom = [];
  map.outputSteps.forEach((s, i) => {
    const row = rowShown(map.values(which, l, d, i), dir, tbptt);
    rows.push(row);
    z.push(row.map((v) => (v > 0 && v !== Infinity ? Math.log10(v) : null)));
    custom.push(row.map((v, t) => [cellText(v), lagOf(s, t, dir)]));
  });
  // Cells the output never reached are exact zeros, so the map's range is that of the cells drawn.
  return { rows, z, custom, range: mapRange(map, which, l, d) };
}

function cellText(v) {
  if (v === null) return "";
  return specialText(v) || v.toExponential(3);
}

/** The range {lo, hi} of log10 of the map's positive finite values of `which` (as mapCells), or null when none. */
export function mapRange(map, which, l, d) {
  let lo = Infinity;
  let hi = 0;
  for (let i = 0; i < map.S; i++) {
    for (const v of map.values(which, l, d, i)) if (v > 0 && v !== Infinity) [lo, hi] = [Math.min(lo, v), Math.max(hi, v)];
  }
  return lo === Infinity ? null : { lo: Math.log10(lo), hi: Math.log10(hi) };
}

/** The union of colour ranges (each {lo, hi} or null), so that maps shown one after another share one scale. */
export function unionRange(ranges) {
  const real = ranges.filter(Boolean);
  if (!real.length) return null;
  return { lo: Math.min(...real.map((r) => r.lo)), hi: Math.max(...real.map((r) => r.hi)) };
}

/**
 * The theory's bound on the lag curve, (γ·σ_max)^k, for layer l, direction d: the start frame's `theory.lag_bound`
 * [D][T] holds it for a vanilla RNN's top layer only; null elsewhere.  Non-finite or non-positive values are null.
 */
export function lagBound(theory, L, l, d) {
  const b = theory?.lag_bound;
  if (!Array.isArray(b) || l !== L - 1 || !Array.isArray(b[d])) return null;
  return b[d].map((v) => (typeof v === "number" && Number.isFinite(v) && v > 0 ? v : null));
}

/** "62 of 200 outputs, evenly spaced" when the map itemises fewer outputs than the loss scores, else "". */
export function rowsNote(rows, outputs) {
  if (!(outputs > rows)) return "";
  return `The map has rows for ${rows} of the ${outputs} outputs, evenly spaced (the first and the last among ` +
    "them): every output would cost too much at this size.";
}

/**
 * The whole map as CSV, one value a line: `what` is grad_h_by_output (layer, direction set), grad_x_by_output (the
 * inputs) or lag_curve (lag k; output_step and t empty).
 */
export function lagCSV(map) {
  const lines = ["what,layer,direction,output_step,t,lag,value"];
  const dir = (d) => (d ? "reverse" : "forward");
  for (let l = 0; l < map.L; l++) {
    for (let d = 0; d < map.D; d++) {
      map.outputSteps.forEach((s, i) => {
        map.row(l, d, i).forEach((v, t) => lines.push(`grad_h_by_output,${l},${dir(d)},${s},${t},${lagOf(s, t, d)},${num(v)}`));
      });
    }
  }
  map.outputSteps.forEach((s, i) => {
    map.xRow(i).forEach((v, t) => lines.push(`grad_x_by_output,,,${s},${t},${lagOf(s, t, 0)},${num(v)}`));
  });
  for (let l = 0; l < map.L; l++) {
    for (let d = 0; d < map.D; d++) map.curve(l, d).forEach((v, k) => lines.push(`lag_curve,${l},${dir(d)},,,${k},${v === null ? "nan" : num(v)}`));
  }
  return lines.join("\n") + "\n";
}

function num(v) {
  if (Number.isNaN(v)) return "nan";
  if (v === Infinity) return "inf";
  if (v === -Infinity) return "-inf";
  return String(v);
}

/** The map as the trace's JSON writes it (the protocol's names and nesting; non-finite numbers as strings). */
export function lagJSON(map) {
  const wire = (v) => (v === null ? "nan" : Number.isFinite(v) ? v : num(v));
  const rows = (fn) => Array.from({ length: map.S }, (_, i) => Array.from(fn(i), wire));
  const layers = (fn) => Array.from({ length: map.L }, (_, l) => Array.from({ length: map.D }, (_, d) => fn(l, d)));
  return {
    output_steps: map.outputSteps,
    grad_h_by_output: layers((l, d) => rows((i) => map.row(l, d, i))),
    grad_x_by_output: rows((i) => map.xRow(i)),
    lag_curve: layers((l, d) => map.curve(l, d).map(wire)),
  };
}
