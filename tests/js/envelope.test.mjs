// The min–max envelope of a long series: per pixel column it keeps exactly the span of the full series (checked
// against a brute-force scan of each column on random series), a lone spike and a lone zero survive, gaps stay gaps,
// and short series pass through whole; the heatmap's column reduction keeps the strongest value of each group.
import assert from "node:assert/strict";
import { test } from "node:test";

const { envelope, envelopeIndices, reduceColumns, screenLine, specialFirst, specialText } = await import("../../static/js/envelope.js");

/** Per column [min, max, any gap] of the values at `indices`, by the same column split as the full series. */
function spans(y, indices, n, cols) {
  const keep = new Set(indices);
  return Array.from({ length: cols }, (_, c) => {
    const s = [Infinity, -Infinity, false];
    for (let i = Math.floor((c * n) / cols); i < Math.floor(((c + 1) * n) / cols); i++) {
      if (!keep.has(i)) continue;
      if (y[i] === null) s[2] = true;
      else [s[0], s[1]] = [Math.min(s[0], y[i]), Math.max(s[1], y[i])];
    }
    return s;
  });
}

function randomSeries(n, seed) {
  let s = seed;
  const rand = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648);
  return Array.from({ length: n }, () => {
    const r = rand();
    if (r < 0.02) return null;
    if (r < 0.04) return 0;
    return 10 ** (-8 * rand());
  });
}

test("every pixel column of the envelope spans exactly what the full series spans there, gaps included", () => {
  for (const [n, cols, seed] of [[2000, 700, 1], [1999, 333, 2], [5000, 64, 3], [801, 200, 4]]) {
    const y = randomSeries(n, seed);
    const idx = envelopeIndices(y, cols);
    const all = Array.from({ length: n }, (_, i) => i);
    assert.deepEqual(spans(y, idx, n, cols), spans(y, all, n, cols), `n=${n} cols=${cols}`);
    assert.ok(idx.length <= 6 * cols, "at most a handful of points a column");
    for (let k = 1; k < idx.length; k++) assert.ok(idx[k] > idx[k - 1], "indices increase");
  }
});

test("a single-step spike and a single zero of a 2000-step series are kept at their own steps", () => {
  const y = Array.from({ length: 2000 }, (_, t) => 1e-3 * (1 + 0.1 * Math.sin(t)));
  y[1234] = 1e3;
  y[777] = 0;
  const x = Array.from({ length: 2000 }, (_, t) => t);
  const e = envelope(x, y, 300);
  assert.ok(e.x.length <= 4 * 300, "at most four points a column");
  const at = (t) => e.y[Array.from(e.x).indexOf(t)];
  assert.equal(at(1234), 1e3);
  assert.equal(at(777), 0);
  assert.ok(e.x instanceof Float64Array && e.y instanceof Float64Array);
});

test("a gap stays a gap: nulls become NaN points, never bridged", () => {
  const y = Array.from({ length: 1000 }, () => 1);
  y[500] = null;
  const e = envelope(Array.from({ length: 1000 }, (_, t) => t), y, 100);
  const k = Array.from(e.x).indexOf(500);
  assert.ok(k >= 0 && Number.isNaN(e.y[k]));
});

test("a series with no more than four points a column passes through whole", () => {
  const y = [3, null, 1, 2, 0, 5, 4, 4];
  assert.deepEqual(Array.from(envelopeIndices(y, 2)), [0, 1, 2, 3, 4, 5, 6, 7]);
});

test("a heatmap's columns reduced to the screen keep each group's strongest value, non-finite first", () => {
  const rows = [[1, -5, 2, 3, null, null], [0, 0, Infinity, 1, 7, null]];
  const r = reduceColumns(rows, [0, 1, 2, 3, 4, 5], 3);
  assert.deepEqual(r.x, [0.5, 2.5, 4.5]);
  assert.deepEqual(r.rows, [[-5, 3, null], [0, Infinity, 7]]);
  assert.deepEqual(reduceColumns(rows, [0, 1, 2, 3, 4, 5], 10).rows, rows);
});

test("for the overlay of special cells a lone exact 0 survives its group, and inf / NaN survive a 0", () => {
  const rows = [[1e-3, 0, 2e-3, 5, 0, NaN]];
  assert.deepEqual(reduceColumns(rows, [0, 1, 2, 3, 4, 5], 2, specialFirst).rows, [[0, NaN]]);
});

test("a line that fits its columns is drawn from its own arrays; a longer one from its envelope", () => {
  const x = [0, 1, 2, 3];
  const y = [1, null, 3, 4];
  assert.equal(screenLine(x, y, 1).y, y);
  const long = screenLine(Array.from({ length: 100 }, (_, i) => i), Array.from({ length: 100 }, (_, i) => i % 7), 5);
  assert.ok(long.y instanceof Float64Array && long.y.length <= 20);
});

test("a special cell says what it is: overflowed float32 either way, NaN, or an exact zero; any other value nothing", () => {
  assert.equal(specialText(Infinity), "overflowed float32 (past 3.4e38)");
  assert.equal(specialText(-Infinity), "overflowed float32 (past −3.4e38)");
  assert.equal(specialText(NaN), "NaN (overflow)");
  assert.equal(specialText(0), "exactly 0 (underflow)");
  assert.equal(specialText(1e-30), "");
});
