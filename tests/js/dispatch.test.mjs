// The frame dispatcher: one object takes every frame of a source and owns what arrives (the RunTrace of a trace,
// the TrainingRun of a training), checked on frames built here as the socket sends them.
import assert from "node:assert/strict";
import { test } from "node:test";

import { FrameDispatcher } from "../../static/js/dispatch.js";

const shapes = { T: 2, L: 1, D: 1, H: 2 };
const start = (run) => ({ type: "start", run, config: { cell: "rnn" }, shapes, layout: { forward: ["hidden"], backward: ["grad_h"] } });
const floats = (xs) => new Float32Array(xs).buffer;

/** A dispatcher whose hooks log what they were told; `trains` says whether training frames are wanted. */
function logged(trains = () => true) {
  const said = [];
  const log = (name) => (data, frame) => said.push([name, data, frame]);
  const hooks = Object.fromEntries(["start", "data", "done", "trainStart", "trainStep", "trainDone"].map((n) => [n, log(n)]));
  for (const n of ["error", "cancelled", "queued", "other"]) hooks[n] = (frame) => said.push([n, frame]);
  return { dispatcher: new FrameDispatcher(hooks, { trains }), said };
}

test("a trace's frames fill one RunTrace, the hooks told after each, the done frame making it whole", () => {
  const { dispatcher, said } = logged();
  dispatcher.accept(start(1));
  const trace = dispatcher.trace;
  assert.equal(trace.run, 1);
  assert.equal(trace.trained, false);
  dispatcher.accept({ type: "forward", run: 1, t: 0, binary_steps: 2 }, floats([1, 2, 3, 4]));
  dispatcher.accept({ type: "forward", run: 1, t: 1 }, null);
  dispatcher.accept({ type: "backward", run: 1, t: 1, binary_steps: 2, grad_h_norm: [[0.5]] }, floats([5, 6, 7, 8]));
  dispatcher.accept({ type: "backward", run: 1, t: 0, grad_h_norm: [[0.25]] }, null);
  assert.equal(trace.at("hidden", 1, 0, 0, 1), 4);
  assert.equal(trace.at("grad_h", 0, 0, 0, 0), 7);
  assert.deepEqual(trace.normSeries("h", 0, 0), [0.25, 0.5]);
  assert.equal(trace.complete, false);
  dispatcher.accept({ type: "done", run: 1, loss: 0.1 });
  assert.ok(trace.complete && trace.done.loss === 0.1 && trace.doneAt > 0);
  assert.deepEqual(said.map(([n]) => n), ["start", "data", "data", "data", "data", "done"]);
  assert.ok(said.every(([n, data]) => n === "error" || data === trace));
});

test("a frame of another run changes nothing in the trace on hand", () => {
  const { dispatcher, said } = logged();
  dispatcher.accept(start(2));
  dispatcher.accept({ type: "forward", run: 1, t: 0, binary_steps: 1 }, floats([9, 9]));
  dispatcher.accept({ type: "done", run: 1 });
  assert.equal(dispatcher.trace.forwardCount, 0);
  assert.equal(dispatcher.trace.complete, false);
  assert.deepEqual(said.map(([n]) => n), ["start", "data", "data"], "a stale done is not the trace's done");
});

test("a training collects its steps; its own trace after train_done is the trained model's, a later one not", () => {
  const { dispatcher, said } = logged();
  dispatcher.accept({ type: "train_start", run: 3, steps: 2, shapes, config: {} });
  const run = dispatcher.training;
  dispatcher.accept({ type: "train_step", run: 3, step: 1, loss: 0.5, grad_norm: 1, clipped: false });
  dispatcher.accept({ type: "train_step", run: 3, step: 2, loss: 0.25, grad_norm: 2, clipped: true, profile: [[[1, 2]]] });
  dispatcher.accept({ type: "train_done", run: 3, diverged_at: null });
  assert.deepEqual(run.loss, [0.5, 0.25]);
  assert.equal(run.clippedCount, 1);
  assert.deepEqual(run.profileSteps, [2]);
  assert.ok(run.done);
  dispatcher.accept(start(3));
  assert.equal(dispatcher.trace.trained, true, "the train request's own trace follows its train_done");
  dispatcher.accept(start(3)); // the same number again (a reconnected socket counts from 1 again): not trained
  assert.equal(dispatcher.trace.trained, false);
  assert.deepEqual(said.map(([n]) => n), ["trainStart", "trainStep", "trainStep", "trainDone", "start", "start"]);
});

test("training frames not wanted are dropped: before a train_start taken, and after Stop", () => {
  let wanted = false;
  const { dispatcher, said } = logged(() => wanted);
  dispatcher.accept({ type: "train_start", run: 1, steps: 5, shapes, config: {} });
  assert.equal(dispatcher.training, null);
  wanted = true;
  dispatcher.accept({ type: "train_start", run: 2, steps: 5, shapes, config: {} });
  dispatcher.accept({ type: "train_step", run: 2, step: 1, loss: 1 });
  wanted = false; // Stop: the steps already on the wire are dropped
  dispatcher.accept({ type: "train_step", run: 2, step: 2, loss: 1 });
  dispatcher.accept({ type: "train_step", run: 1, step: 1, loss: 1 });
  assert.equal(dispatcher.training.steps, 1);
  dispatcher.accept({ type: "cancelled", run: 2 });
  assert.equal(dispatcher.training.stopped, true);
  dispatcher.accept({ type: "train_done", run: 1 }); // another training's end finishes nothing of this one
  assert.equal(dispatcher.training.done, null);
  assert.deepEqual(said.map(([n]) => n), ["trainStart", "trainStep", "cancelled", "trainDone"]);
  dispatcher.clearTraining();
  assert.equal(dispatcher.training, null);
});

test("errors, queue places and every other frame go to their hooks untouched", () => {
  const { dispatcher, said } = logged();
  const frames = [{ type: "error", run: 1, field: "seq_len", message: "too long" }, { type: "queued", run: 1, position: 2 },
    { type: "model_loaded", run: null, sha256: "x" }];
  for (const f of frames) dispatcher.accept(f);
  assert.deepEqual(said, [["error", frames[0]], ["queued", frames[1]], ["other", frames[2]]]);
  assert.equal(dispatcher.trace, null);
});
