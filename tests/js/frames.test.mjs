// The recorded frame source: the socket's contract (run numbers, one step per frame, newest request only)
// kept by a replay of recordings, checked on a recording built here.
import assert from "node:assert/strict";
import { test } from "node:test";

globalThis.window = globalThis;
const { RecordedSource } = await import("../../static/js/frames.js");

const b64 = (floats) => Buffer.from(new Float32Array(floats).buffer).toString("base64");
// Two steps of forward in one message, the way the server chunks them; a non-finite value as the wire writes it.
window.GFL_RECORDINGS = {
  "data/run-a.js": [
    ['{"type":"start","shapes":{"T":2}}', null],
    ['{"type":"forward","t":0,"steps":2,"output":[[1],[2]]}', b64([1, 2])],
    ['{"type":"backward","t":1,"steps":2,"grad_h_norm":[[["inf"]],[[0.5]]]}', b64([3, 4])],
    ['{"type":"done","loss":"nan"}', null],
  ],
  "data/train-a.js": [
    ['{"type":"train_start","steps":2}', null],
    ['{"type":"train_step","step":1,"elapsed_s":0.02}', null],
    ['{"type":"train_step","step":2,"elapsed_s":0.04}', null],
    ['{"type":"train_done","final_loss":0.1}', null],
  ],
};
const recordings = [
  { kind: "run", config: { cell: "rnn", lr: 0.1 }, src: "data/run-a.js" },
  { kind: "train", config: { cell: "rnn", lr: 0.1 }, src: "data/train-a.js" },
];
const keyOf = (kind, c) => (kind === "run" ? c.cell : `${c.cell} ${c.lr}`); // a trace ignores lr, a training not
const settle = (ms = 0) => new Promise((r) => setTimeout(r, ms));

function source() {
  const got = [];
  const src = new RecordedSource((f, p) => got.push([f, p]), () => {}, { recordings, keyOf, missing: "not here" });
  return { src, got };
}

test("a trace replays as one-step frames of the newest run, non-finite values restored", async () => {
  const { src, got } = source();
  src.run({ cell: "rnn", lr: 5 }); // lr does not decide a trace
  await settle();
  assert.deepEqual(got.map(([f]) => `${f.type}:${f.t ?? ""}:${f.run}`),
    ["start::1", "forward:0:1", "forward:1:1", "backward:1:1", "backward:0:1", "done::1"]);
  const [fwd, payload] = got[1];
  assert.deepEqual(Array.from(new Float32Array(payload)), [1, 2]);
  assert.equal(fwd.binary_steps, 2);
  assert.equal(got[2][1], null);
  assert.deepEqual(got[3][0].grad_h_norm, [[Infinity]]);
  assert.ok(Number.isNaN(got[5][0].loss));
});

test("a training replays at its recorded pace, and a newer request silences it", async () => {
  const { src, got } = source();
  src.train({ cell: "rnn", lr: 0.1 });
  await settle();
  assert.deepEqual(got.map(([f]) => f.type), ["train_start"]);
  await settle(80);
  assert.deepEqual(got.map(([f]) => f.type), ["train_start", "train_step", "train_step", "train_done"]);
  got.length = 0;
  src.train({ cell: "rnn", lr: 0.1 });
  await settle();
  src.run({ cell: "gru", lr: 0.1 }); // not recorded: an error for run 3, nothing more of run 2
  await settle(80);
  assert.deepEqual(got.map(([f]) => `${f.type}:${f.run}`), ["train_start:2", "error:3"]);
  assert.equal(got[1][0].message, "not here");
});

test("stop cancels the newest request", async () => {
  const { src, got } = source();
  src.train({ cell: "rnn", lr: 0.1 });
  await settle();
  src.stop();
  await settle(80);
  assert.deepEqual(got.map(([f]) => `${f.type}:${f.run}`), ["train_start:1", "cancelled:1"]);
});

test("a faster pace replays a training sooner, and a pace set during a replay applies to the rest", async () => {
  window.GFL_RECORDINGS["data/train-slow.js"] = [
    ['{"type":"train_start","steps":2}', null],
    ['{"type":"train_step","step":1,"elapsed_s":1}', null],
    ['{"type":"train_step","step":2,"elapsed_s":600}', null],
    ['{"type":"train_done","final_loss":0.1}', null],
  ];
  const got = [];
  const recorded = [{ kind: "train", config: { cell: "lstm", lr: 0.1 }, src: "data/train-slow.js" }];
  const src = new RecordedSource((f) => got.push(f.type), () => {}, { recordings: recorded, keyOf, pace: 50 });
  src.train({ cell: "lstm", lr: 0.1 });
  await settle();
  assert.deepEqual(got, ["train_start"]);
  await settle(150); // step 1 was recorded at 1 s: due after 20 ms at 50 times the pace; step 2 after 12 s
  assert.deepEqual(got, ["train_start", "train_step"]);
  src.setPace(Infinity);
  await settle();
  assert.deepEqual(got, ["train_start", "train_step", "train_step", "train_done"]);
});

test("of two recordings of one result, the first (the page's own, loaded with it) answers", async () => {
  window.GFL_RECORDINGS["data/run-again.js"] = [['{"type":"start","shapes":{"T":2}}', null]];
  const twice = [recordings[0], { kind: "run", config: { cell: "rnn", lr: 0.5 }, src: "data/run-again.js" }];
  const got = [];
  const src = new RecordedSource((f) => got.push(f.type), () => {}, { recordings: twice, keyOf });
  src.run({ cell: "rnn", lr: 0.5 }); // lr does not decide a trace: the same result as the first recording's
  await settle();
  assert.deepEqual(got, ["start", "forward", "forward", "backward", "backward", "done"]);
});

test("a pace is a number above 0", () => {
  for (const pace of [0, -1, NaN, "fast"]) {
    assert.throws(() => new RecordedSource(() => {}, () => {}, { recordings, keyOf, pace }), /pace must be a number above 0/);
  }
  assert.throws(() => source().src.setPace(0), /pace must be a number above 0/);
});
