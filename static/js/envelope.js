// Long series at the resolution of the screen.  A chart 700 pixels wide cannot show 2000 steps one by one; Plotly
// would still build an SVG path of all of them on every repaint.  The min–max envelope keeps, for each pixel
// column, the step holding the column's smallest value and the one holding its largest (in step order), so the
// line drawn through them covers exactly the vertical span the full line covers in that column: a spike of a single
// step, or a single exact zero (drawn at the log axis' floor), is never averaged away.  Gaps (null), and the
// non-finite values the caller clamps before, are kept as they are.  Pure functions: no DOM, no Plotly.

/**
 * The indices of `y` to draw for `columns` pixel columns: every index when the series fits, else per column the
 * first and last index, the index of its minimum and of its maximum, and every null (a gap stays a gap).
 * @param {ArrayLike<number|null>} y
 * @param {number} columns  pixel columns of the plot area (at least 1)
 * @returns {Int32Array} increasing indices
 */
export function envelopeIndices(y, columns) {
  const n = y.length;
  const cols = Math.max(1, Math.floor(columns));
  // Four points a column: below that many steps the envelope would save nothing.
  if (n <= 4 * cols) return Int32Array.from({ length: n }, (_, i) => i);
  const out = [];
  for (let c = 0; c < cols; c++) {
    const from = Math.floor((c * n) / cols);
    const to = Math.floor(((c + 1) * n) / cols);
    let lo = -1;
    let hi = -1;
    const picked = [from, to - 1];
    for (let i = from; i < to; i++) {
      const v = y[i];
      if (v === null || v === undefined || Number.isNaN(v)) {
        picked.push(i);
        continue;
      }
      if (lo < 0 || v < y[lo]) lo = i;
      if (hi < 0 || v > y[hi]) hi = i;
    }
    if (lo >= 0) picked.push(lo, hi);
    picked.sort((a, b) => a - b);
    for (let k = 0; k < picked.length; k++) if (k === 0 || picked[k] !== picked[k - 1]) out.push(picked[k]);
  }
  return Int32Array.from(out);
}

/**
 * The envelope of the line (x, y): the same points, fewer of them, as typed arrays Plotly draws directly
 * (Float64Array; a gap is NaN, which Plotly leaves undrawn as it does null).
 * @param {ArrayLike<number>} x
 * @param {ArrayLike<number|null>} y
 * @param {number} columns
 * @returns {{x: Float64Array, y: Float64Array, index: Int32Array}}  `index`: where each point came from
 */
export function envelope(x, y, columns) {
  const index = envelopeIndices(y, columns);
  const ex = new Float64Array(index.length);
  const ey = new Float64Array(index.length);
  for (let k = 0; k < index.length; k++) {
    const i = index[k];
    ex[k] = x[i];
    ey[k] = y[i] === null || y[i] === undefined ? NaN : y[i];
  }
  return { x: ex, y: ey, index };
}

/**
 * The line (x, y) as a chart draws it on `columns` pixel columns: the arrays themselves when every point fits, else
 * their envelope (typed arrays, a gap as NaN).
 */
export function screenLine(x, y, columns) {
  if (y.length <= 4 * Math.max(1, Math.floor(columns))) return { x, y };
  const e = envelope(x, y, columns);
  return { x: e.x, y: e.y };
}

/**
 * Columns of a (rows × T) grid reduced to at most `columns` by keeping, in each group of adjacent steps, the value
 * of largest magnitude per row (nulls only where the whole group is null), so a heatmap drawn at the resolution of
 * the screen still shows a one-step burst; the x of each kept column is the middle of its group (x evenly spaced
 * by 1, as the step axes are).
 * @param {Array<Array<number|null>>} rows
 * @param {ArrayLike<number>} x
 * @param {number} columns
 * @param {(a: number, b: number) => boolean} wins  whether a replaces b (default: larger |value|, non-finite wins)
 */
export function reduceColumns(rows, x, columns, wins = strongest) {
  const n = x.length;
  const cols = Math.max(1, Math.floor(columns));
  if (n <= cols) return { rows, x: Array.from(x) };
  // Each kept column sits at the middle of its group, so the columns stay evenly spaced on the step axis.
  const gx = new Array(cols);
  for (let c = 0; c < cols; c++) gx[c] = x[0] + ((c + 0.5) * n) / cols - 0.5;
  const out = rows.map((row) => {
    const r = new Array(cols).fill(null);
    for (let c = 0; c < cols; c++) {
      const to = Math.floor(((c + 1) * n) / cols);
      for (let i = Math.floor((c * n) / cols); i < to; i++) {
        const v = row[i];
        if (v !== null && v !== undefined && (r[c] === null || wins(v, r[c]))) r[c] = v;
      }
    }
    return r;
  });
  return { rows: out, x: gx };
}

/**
 * What a special cell is, in words: ±inf a value past float32's range (±3.4e38; the lag map's float64 norms travel
 * in float32 too, docs/protocol.md), NaN what an overflow leaves (inf − inf, 0 · inf), 0 an exact zero; "" for any
 * other value.  A value is never shown as a measured "inf".
 */
export function specialText(v) {
  if (v === 0) return "exactly 0 (underflow)";
  if (v === Infinity || v === -Infinity) return `overflowed float32 (past ${v > 0 ? "" : "−"}3.4e38)`;
  if (Number.isNaN(v)) return "NaN (overflow)";
  return "";
}

/** A reducer for the overlay of special cells: inf / NaN win over an exact 0, which wins over any other value. */
export function specialFirst(a, b) {
  const rank = (v) => (!Number.isFinite(v) ? 2 : v === 0 ? 1 : 0);
  return rank(a) > rank(b) || (rank(a) === rank(b) && Math.abs(a) > Math.abs(b));
}

function strongest(a, b) {
  if (!Number.isFinite(a)) return Number.isFinite(b);
  return Number.isFinite(b) && Math.abs(a) > Math.abs(b);
}
