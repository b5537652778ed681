// The lag map on the page: the `lag` frame's float32 layout decoded, the heatmap's cells (log colour, exact zeros,
// cells an output never reaches), the lag curve and its bound, the CSV, and the frame's way in through the socket,
// the recorded source and the frame dispatcher; checked on frames built here as docs/protocol.md lays them out.
import assert from "node:assert/strict";
import { test } from "node:test";

globalThis.window = globalThis;
const { LagMap, lagBound, lagCSV, lagJSON, lagOf, mapCells, reachedRow, rowShown, rowsNote, unionRange } =
  await import("../../static/js/lag.js");
const { FrameDispatcher } = await import("../../static/js/dispatch.js");

/** A lag frame and its payload: grad_h_by_output[l][d][i][t] = f(l, d, i, t), grad_x_by_output[i][t] = g(i, t). */
function built({ L, D, T, steps, h, x = () => 0, curve = null, step, run = 1 }) {
  const S = steps.length;
  const data = new Float32Array((L * D + 1) * S * T);
  let k = 0;
  for (let l = 0; l < L; l++) for (let d = 0; d < D; d++) for (let i = 0; i < S; i++) for (let t = 0; t < T; t++) data[k++] = h(l, d, i, t);
  for (let i = 0; i < S; i++) for (let t = 0; t < T; t++) data[k++] = x(i, t);
  const lagCurve = curve || Array.from({ length: L }, () => Array.from({ length: D }, () => Array(T).fill(NaN)));
  const frame = { type: "lag", run, output_steps: steps, rows: S, lag_curve: lagCurve, ...(step === undefined ? {} : { step }) };
  return { frame, payload: data.buffer, shapes: { L, D, T } };
}

test("a lag frame's float32 payload is grad_h_by_output (L, D, S, T) then grad_x_by_output (S, T), row-major", () => {
  const code = (l, d, i, t) => 1000 * l + 100 * d + 10 * i + t;
  const { frame, payload, shapes } = built({ L: 2, D: 2, T: 3, steps: [1, 2], h: code, x: (i, t) => -(10 * i + t) });
  const map = new LagMap(frame, payload, shapes);
  assert.equal(map.S, 2);
  assert.deepEqual(Array.from(map.row(1, 0, 1)), [1010, 1011, 1012]);
  assert.deepEqual(Array.from(map.row(0, 1, 0)), [100, 101, 102]);
  assert.deepEqual(Array.from(map.xRow(1)), [-10, -11, -12]);
  assert.deepEqual(Array.from(map.values("x", 1, 1, 0)), [-0, -1, -2]);
  assert.equal(map.step, null, "a run's map is of no training step");
});

test("a lag frame that does not fit its run's shapes is refused, saying what does not fit", () => {
  const { frame, payload, shapes } = built({ L: 1, D: 1, T: 4, steps: [1, 3], h: () => 1 });
  assert.throws(() => new LagMap(frame, payload.slice(4), shapes), /holds 60 bytes; 2 rows of 4 steps need 64/);
  assert.throws(() => new LagMap({ ...frame, rows: 3 }, payload, shapes), /names 2 output steps for 3 rows/);
  assert.throws(() => new LagMap({ ...frame, output_steps: [3, 1] }, payload, shapes), /must rise from 0 to 3/);
  assert.throws(() => new LagMap({ ...frame, output_steps: [1, 4] }, payload, shapes), /must rise from 0 to 3/);
});

test("a row's zeros before its output's gradient arrives are structure, those after it are underflow", () => {
  // Forward direction, output s = 3 of T = 6: steps 4, 5 come after it (blank), step 0 underflowed (0).
  const forward = Float32Array.from([0, 1e-30, 0.01, 1, 0, 0]);
  assert.deepEqual(reachedRow(forward, 0), [true, true, true, true, false, false]);
  assert.deepEqual(rowShown(forward, 0).map((v) => (v === null ? null : Number(v.toExponential(2)))), [0, 1e-30, 0.01, 1, null, null]);
  // Reverse direction: backpropagation visits ascending t; an overflow (NaN) reaches too.
  assert.deepEqual(reachedRow(Float32Array.from([0, 0, NaN, 0.5, 0]), 1), [false, false, true, true, true]);
  // Truncated BPTT, windows of 2: the gradient of s = 3 stops at the cut between steps 1 and 2.
  assert.deepEqual(reachedRow(Float32Array.from([0, 0, 0.5, 1, 0, 0]), 0, 2), [false, false, true, true, false, false]);
});

test("the heatmap's cells: log10 colour, the value and the lag for the hover, exact zeros kept for their colour", () => {
  const T = 4;
  // Output s = 3 (row 1) and s = 1 (row 0); the value at t is 10^(t − s) up to s, then 0 (structure).
  const { frame, payload, shapes } = built({ L: 1, D: 1, T, steps: [1, 3], h: (l, d, i, t) => {
    const s = [1, 3][i];
    if (t > s) return 0;
    return i === 1 && t === 0 ? 0 : 10 ** (t - s);
  } });
  const map = new LagMap(frame, payload, shapes);
  const cells = mapCells(map, "h", 0, 0);
  const round = (v) => (v === null ? null : Math.round(v * 1e6) / 1e6); // 10^k is not exact in float32
  assert.deepEqual(cells.z.map((r) => r.map(round)), [[-1, 0, null, null], [null, -2, -1, 0]]);
  assert.deepEqual(cells.rows[1].slice(0, 1), [0], "s = 3 underflowed at t = 0: an exact zero, reached");
  assert.equal(cells.rows[0][2], null, "s = 1 does not depend on t = 2");
  assert.deepEqual(cells.custom[1][0], ["exactly 0 (underflow)", 3]);
  assert.deepEqual(cells.custom[1][2], ["1.000e-1", 1]);
  assert.deepEqual([round(cells.range.lo), cells.range.hi], [-2, 0]);
  assert.equal(lagOf(3, 5, 1), 2, "a reverse direction's lag runs forward in t");
  assert.deepEqual(unionRange([null, { lo: -3, hi: 0 }, { lo: -1, hi: 2 }]), { lo: -3, hi: 2 });
  assert.equal(unionRange([null]), null);
});

test("a norm past float32's range (sent as inf) is said to have overflowed float32, never shown as a measured inf", () => {
  // Output s = 2: t = 0 passed 3.4e38 (the server's float64 norm, inf in float32), t = 1 is NaN, t = 2 is measured.
  const { frame, payload, shapes } = built({ L: 1, D: 1, T: 3, steps: [2], h: (l, d, i, t) => [1e39, NaN, 2][t] });
  const cells = mapCells(new LagMap(frame, payload, shapes), "h", 0, 0);
  assert.deepEqual(cells.custom[0].map(([text]) => text), ["overflowed float32 (past 3.4e38)", "NaN (overflow)", "2.000e+0"]);
  assert.deepEqual(cells.z[0], [null, null, Math.log10(2)], "only measured values are coloured");
});

test("the lag curve leaves NaN lags out, and the bound is the top layer's of a vanilla RNN only", () => {
  const curve = [[[1, 0.5, NaN]], [[1, 0.25, 0.0625]]];
  const { frame, payload, shapes } = built({ L: 2, D: 1, T: 3, steps: [2], h: () => 1, curve });
  const map = new LagMap(frame, payload, shapes);
  assert.deepEqual(map.curve(0, 0), [1, 0.5, null]);
  assert.deepEqual(map.curve(1, 0), [1, 0.25, 0.0625]);
  const theory = { lag_bound: [[1, 0.9, Infinity]] };
  assert.deepEqual(lagBound(theory, 2, 1, 0), [1, 0.9, null]);
  assert.equal(lagBound(theory, 2, 0, 0), null, "the bound is the top layer's");
  assert.equal(lagBound({ lag_bound: null }, 2, 1, 0), null, "LSTM and GRU have none");
  assert.equal(lagBound({}, 1, 0, 0), null);
});

test("the CSV holds every value of the map, the inputs' rows and the lag curve, each named; the JSON the wire's nesting", () => {
  const { frame, payload, shapes } = built({ L: 1, D: 2, T: 2, steps: [1], h: (l, d, i, t) => (d ? 0.5 : Infinity) * (t + 1),
    x: (i, t) => t, curve: [[[1, NaN], [1, 0.5]]] });
  const map = new LagMap(frame, payload, shapes);
  const lines = lagCSV(map).trim().split("\n");
  assert.equal(lines[0], "what,layer,direction,output_step,t,lag,value");
  assert.deepEqual(lines.slice(1), [
    "grad_h_by_output,0,forward,1,0,1,inf", "grad_h_by_output,0,forward,1,1,0,inf",
    "grad_h_by_output,0,reverse,1,0,-1,0.5", "grad_h_by_output,0,reverse,1,1,0,1",
    "grad_x_by_output,,,1,0,1,0", "grad_x_by_output,,,1,1,0,1",
    "lag_curve,0,forward,,,0,1", "lag_curve,0,forward,,,1,nan", "lag_curve,0,reverse,,,0,1", "lag_curve,0,reverse,,,1,0.5",
  ]);
  const json = lagJSON(map);
  assert.deepEqual(json.grad_h_by_output, [[[["inf", "inf"]], [[0.5, 1]]]]);
  assert.deepEqual(json.grad_x_by_output, [[0, 1]]);
  assert.deepEqual(json.lag_curve, [[[1, "nan"], [1, 0.5]]]);
});

test("the view says how many of the outputs the map itemises when it holds fewer rows than the outputs", () => {
  assert.match(rowsNote(62, 200), /rows for 62 of the 200 outputs, evenly spaced/);
  assert.equal(rowsNote(50, 50), "");
  assert.equal(rowsNote(8, 0), "", "a module's trace does not say where its loss reads the outputs");
});

test("the dispatcher keeps a run's map with its trace, and a training's maps with their steps", () => {
  const said = [];
  const dispatcher = new FrameDispatcher({ data: (t, f) => said.push(["data", f.type]), trainLag: (r) => said.push(["trainLag", r.lagMaps.length]) });
  const shapes = { T: 3, L: 1, D: 1, H: 1 };
  dispatcher.accept({ type: "start", run: 1, config: {}, shapes, layout: { forward: ["hidden"], backward: ["grad_h"] } });
  const lag = built({ L: 1, D: 1, T: 3, steps: [0, 2], h: (l, d, i, t) => i + t });
  dispatcher.accept(lag.frame, lag.payload);
  assert.deepEqual(Array.from(dispatcher.trace.lag.row(0, 0, 1)), [1, 2, 3]);
  // A map that does not fit is kept as its error: the view says so, nothing throws.
  dispatcher.accept({ ...lag.frame, rows: 5 }, lag.payload);
  assert.equal(dispatcher.trace.lag, null);
  assert.match(dispatcher.trace.lagError, /names 2 output steps for 5 rows/);
  // A training asked with the map: each profiled step's lag frame carries its step.
  dispatcher.accept({ type: "train_start", run: 2, config: {}, steps: 4, shapes: { L: 1, D: 1, T: 3 } });
  for (const step of [2, 4]) {
    const m = built({ L: 1, D: 1, T: 3, steps: [2], h: () => step, step, run: 2 });
    dispatcher.accept(m.frame, m.payload);
  }
  assert.deepEqual(dispatcher.training.lagMaps.map((m) => [m.step, m.row(0, 0, 0)[0]]), [[2, 2], [4, 4]]);
  assert.equal(dispatcher.trace.lagError !== null, true, "the trace on show keeps what it had");
  assert.deepEqual(said, [["data", "lag"], ["data", "lag"], ["trainLag", 1], ["trainLag", 2]]);
  // After Stop, a step's map still on the wire is dropped with its step.
  let training = true;
  const stopped = new FrameDispatcher({}, { trains: () => training });
  stopped.accept({ type: "train_start", run: 3, config: {}, steps: 4, shapes: { L: 1, D: 1, T: 3 } });
  training = false;
  const late = built({ L: 1, D: 1, T: 3, steps: [2], h: () => 1, step: 1, run: 3 });
  stopped.accept(late.frame, late.payload);
  assert.deepEqual(stopped.training.lagMaps, []);
});

test("a training keeps a bounded number of maps: the first and the newest stay, the older half thins", async () => {
  const { TrainingRun, MAX_LAG_MAPS } = await import("../../static/js/training_run.js");
  const run = new TrainingRun({ run: 1, config: {}, steps: 1000, shapes: { L: 1, D: 1, T: 2 } });
  for (let step = 1; step <= MAX_LAG_MAPS + 1; step++) {
    const m = built({ L: 1, D: 1, T: 2, steps: [1], h: () => step, step });
    run.addLag(m.frame, m.payload);
  }
  const steps = run.lagMaps.map((m) => m.step);
  assert.ok(steps.length <= MAX_LAG_MAPS, steps.length);
  assert.equal(steps[0], 1);
  assert.equal(steps.at(-1), MAX_LAG_MAPS + 1);
  assert.deepEqual(steps, [...steps].sort((a, b) => a - b));
});
