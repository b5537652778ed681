// The prefetcher: a slider's neighbours on its own grid, the direction of motion first; one batch out at a time; a
// busy answer stops it for the server's retry hint; keys that do not change the trace, or values the table refuses,
// are never asked for.
import assert from "node:assert/strict";
import { test } from "node:test";

const { MOST, Prefetcher, ahead, leadSteps, neighbours } = await import("../../static/js/prefetch.js");

test("neighbours lie on the slider's grid inside its range, the direction of motion first", () => {
  const grid = { min: 0, max: 3, step: 0.01 };
  assert.deepEqual(neighbours(1, grid, 1), [1.01, 1.02, 0.99, 1.03]);
  assert.deepEqual(neighbours(1, grid, -1), [0.99, 0.98, 1.01, 0.97]);
  assert.deepEqual(neighbours(3, grid, 1), [2.99, 2.98]);
  assert.deepEqual(neighbours(2, { min: 2, max: 2000, step: 1 }, -1), [3, 4]);
});

function setup(now = { t: 0 }) {
  const sent = [];
  const state = {
    config: { gain: 1, lr: 0.01 },
    wantsLag: false,
    needsTrace: (names) => !names.includes("lr"),
    schema: { check: (name, v) => { if (v > 1.02) throw new Error("too big"); return v; } },
  };
  const p = new Prefetcher(state, (configs, o) => (sent.push({ configs, ...o }), true), () => now.t);
  const input = (name, value) => ({ name, value: String(value), min: "0", max: "3", step: "0.01" });
  return { p, sent, input, now };
}

test("one batch is out at a time, of at most MOST settings the table allows", () => {
  const { p, sent, input } = setup();
  p.around(input("gain", 1));
  p.around(input("gain", 1.01));
  assert.equal(sent.length, 1);
  assert.ok(sent[0].configs.length <= MOST);
  assert.deepEqual(sent[0].configs.map((c) => c.gain), [1.01, 1.02, 0.99]); // 1.03 is refused by the table
  assert.equal(sent[0].configs[0].lr, 0.01);
  p.answered({ type: "prefetched", ready: 3 });
  p.around(input("gain", 1.01));
  assert.equal(sent.length, 2);
});

test("a busy answer drops prefetching until the retry hint has passed", () => {
  const { p, sent, input, now } = setup();
  p.around(input("gain", 1));
  p.answered({ type: "prefetched", ready: 0, busy: true, retry_after_s: 2 });
  assert.equal(p.dropped, 1);
  now.t = 1999;
  p.around(input("gain", 1));
  assert.equal(sent.length, 1);
  now.t = 2000;
  p.around(input("gain", 1));
  assert.equal(sent.length, 2);
});

test("a key that does not change the trace is never prefetched", () => {
  const { p, sent, input } = setup();
  p.around(input("lr", 0.01));
  assert.equal(sent.length, 0);
});

test("while dragged, the values ahead in the direction of motion, as far ahead as it moves in one setting's time", () => {
  const grid = { min: 1, max: 2000, step: 1 };
  assert.deepEqual(ahead(50, grid, 1, 3), [53, 54, 55, 56]);
  assert.deepEqual(ahead(50, grid, -1, 2), [48, 47, 46, 45]);
  assert.deepEqual(ahead(1998, grid, 1, 1), [1999, 2000]); // the range's end
  assert.deepEqual(ahead(50, grid, 1, 0), neighbours(50, grid, 1)); // at rest: around it
  assert.equal(leadSteps(0, 100), 0);
  assert.equal(leadSteps(0.001, 100), 1); // slower than a step a setting: the next one
  assert.equal(leadSteps(0.06, 100), 6); // 60 steps a second, 100 ms a setting
});

// A seq_len slider held at 50 and dragged a step every 16 ms while the first batch is out (400 ms, 4 settings ready),
// then moved to 76: the batches the prefetcher sent.  `bringInMs`: the page's time to bring a setting in.
function dragOverFirstBatch(bringInMs) {
  const sent = [];
  const now = { t: 0 };
  const state = { config: { seq_len: 50 }, wantsLag: false, needsTrace: () => true, schema: { check: (_n, v) => v } };
  const p = new Prefetcher(state, (configs) => (sent.push(configs.map((c) => c.seq_len)), true), () => now.t,
    () => bringInMs);
  const input = (value) => ({ name: "seq_len", value: String(value), min: "1", max: "2000", step: "1" });
  p.around(input(50)); // held
  for (let t = 16; t <= 400; t += 16) {
    now.t = t;
    p.around(input(50 + t / 16), 1, true);
  }
  p.answered({ type: "prefetched", ready: 4 });
  now.t = 416;
  p.around(input(76), 1, true);
  return { p, sent };
}

test("a drag's batches lead the slider by its speed times the server's time a setting", () => {
  const { p, sent } = dragOverFirstBatch(0); // nothing brought into the page
  assert.equal(p.perSettingMs, 100);
  assert.deepEqual(sent, [[51, 52, 49, 53], [82, 83, 84, 85]]); // 1/16 step a ms × 100 ms: 6 steps ahead of 76
});

test("when the page brings the batch in, a drag's batches lead by the batch's time and a fetch's", () => {
  const { sent } = dragOverFirstBatch(60);
  assert.deepEqual(sent[1], [105, 106, 107, 108]); // 1/16 step a ms × (400 + 60) ms: 29 steps ahead of 76
});

test("a dragged slider has passed the values behind it and its own, not those ahead; at rest none", () => {
  const now = { t: 0 };
  const state = { config: { seq_len: 50 }, wantsLag: false, needsTrace: () => true, schema: { check: (_n, v) => v } };
  const p = new Prefetcher(state, () => true, () => now.t);
  const input = (value) => ({ name: "seq_len", value: String(value), min: "1", max: "2000", step: "1" });
  p.around(input(50));
  assert.equal(p.passed({ seq_len: 40 }), false); // at rest
  for (const [t, v] of [[16, 51], [32, 52]]) {
    now.t = t;
    p.around(input(v), 1, true);
  }
  assert.deepEqual([49, 52, 53].map((v) => p.passed({ seq_len: v })), [true, true, false]);
  for (const [t, v] of [[48, 51], [64, 50]]) {
    now.t = t;
    p.around(input(v), -1, true); // turned back
  }
  assert.deepEqual([49, 51].map((v) => p.passed({ seq_len: v })), [false, true]);
  now.t = 64 + 250;
  assert.equal(p.passed({ seq_len: 51 }), false); // resting again
});
