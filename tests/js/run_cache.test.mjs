// The page's cache of runs received whole: a setting asked for again is answered with the very frames the server
// sent for it, under a new run number; a replay supersedes the socket's request; the byte budget evicts the least
// recently used; only whole runs of run requests are kept.
import assert from "node:assert/strict";
import { test } from "node:test";

const { RunCache, runKey } = await import("../../static/js/run_cache.js");

function setup(o = {}) {
  const got = [];
  const queued = [];
  let stops = 0;
  const cache = new RunCache((frame, payload) => got.push([frame, payload]), {
    stop: () => (stops += 1), later: (fn) => queued.push(fn), ...o });
  const flush = () => { while (queued.length) queued.shift()(); };
  return { cache, got, flush, stops: () => stops };
}

// One run as the socket delivers it, in the server's numbering `n`, with payloads of `bytes` bytes.
function serverRun(cache, n, gain, bytes = 8) {
  const frames = [
    [{ type: "computing", run: n, estimate_s: 0.1 }, null],
    [{ type: "start", run: n, config: { gain } }, null],
    [{ type: "forward", run: n, t: 0 }, new ArrayBuffer(bytes)],
    [{ type: "backward", run: n, t: 0, grad_h_norm: [[gain]] }, new ArrayBuffer(bytes)],
    [{ type: "done", run: n, elapsed_ms: 3 }, null],
  ];
  for (const [f, p] of frames) cache.receive(f, p);
  return frames;
}

test("the key is the whole setting, whatever its keys' order, and whether the map was asked for", () => {
  assert.equal(runKey({ a: 1, b: 2 }), runKey({ b: 2, a: 1 }));
  assert.notEqual(runKey({ a: 1 }), runKey({ a: 2 }));
  assert.notEqual(runKey({ a: 1 }, true), runKey({ a: 1 }, false));
});

test("a setting asked for again is answered with the same frames under the page's next run number", () => {
  const { cache, got, flush } = setup();
  assert.equal(cache.ask("run", { gain: 1 }), false);
  const sent = serverRun(cache, 1, 1);
  assert.equal(cache.ask("run", { gain: 2 }), false);
  serverRun(cache, 2, 2);
  const before = got.length;
  assert.equal(cache.ask("run", { gain: 1 }), true);
  assert.equal(got.length, before, "the replay waits for the caller's task to end");
  flush();
  const replayed = got.slice(before);
  assert.equal(cache.newest, 3);
  assert.deepEqual(replayed.map(([f]) => f.run), [3, 3, 3, 3]);
  // The server's frames of the run, less its word on the computation, payloads and all.
  const answer = sent.filter(([f]) => f.type !== "computing");
  assert.deepEqual(replayed.map(([f]) => ({ ...f, run: 0 })), answer.map(([f]) => ({ ...f, run: 0 })));
  assert.deepEqual(replayed.map(([, p]) => p), answer.map(([, p]) => p));
  assert.equal(cache.replays, 1);
});

test("the socket's frames carry the page's run number, and a replay drops those of the request it supersedes", () => {
  const { cache, got, flush, stops } = setup();
  cache.ask("run", { gain: 1 });
  serverRun(cache, 1, 1);
  cache.ask("run", { gain: 2 }); // in flight on the socket as its run 2...
  cache.receive({ type: "start", run: 2, config: { gain: 2 } }, null);
  assert.equal(got.at(-1)[0].run, 2);
  cache.ask("run", { gain: 1 }); // ...when a kept setting supersedes it: the server is told to stop
  assert.equal(stops(), 1);
  flush();
  const n = got.length;
  cache.receive({ type: "forward", run: 2, t: 0 }, new ArrayBuffer(8));
  cache.receive({ type: "cancelled", run: 2 }, null);
  assert.equal(got.length, n, "frames of the superseded request reached the page");
  // Its next request is the socket's run 3 and the page's run 4.
  cache.ask("run", { gain: 3 });
  cache.receive({ type: "start", run: 3, config: { gain: 3 } }, null);
  assert.equal(got.at(-1)[0].run, 4);
  // Frames of no run (an upload's answer) pass as they are.
  cache.receive({ type: "series_loaded", run: null }, null);
  assert.equal(got.at(-1)[0].run, null);
});

test("a replay superseded before it is delivered delivers nothing", () => {
  const { cache, got, flush } = setup();
  cache.ask("run", { gain: 1 });
  serverRun(cache, 1, 1);
  const n = got.length;
  assert.equal(cache.ask("run", { gain: 1 }), true);
  assert.equal(cache.ask("run", { gain: 2 }), false);
  flush();
  assert.equal(got.length, n);
});

test("only whole answers to run requests are kept, and none while the cache is kept out", () => {
  const { cache } = setup();
  cache.ask("run", { gain: 1 });
  cache.receive({ type: "start", run: 1, config: { gain: 1 } }, null);
  cache.receive({ type: "error", run: 1, field: "gain", message: "refused" }, null);
  cache.receive({ type: "done", run: 1 }, null);
  assert.equal(cache.has({ gain: 1 }), false, "an answer that failed was kept");
  cache.ask("train", { gain: 2 });
  serverRun(cache, 2, 2);
  assert.equal(cache.has({ gain: 2 }), false, "a training's trace was kept as the setting's");
  cache.ask("run", { gain: 3 }, {}, false); // a file is uploaded
  serverRun(cache, 3, 3);
  assert.equal(cache.has({ gain: 3 }), false);
  assert.equal(cache.ask("run", { gain: 3 }, {}, false), false);
  cache.ask("run", { gain: 4 }, { lag: true });
  serverRun(cache, 5, 4);
  assert.equal(cache.has({ gain: 4 }, true), true);
  assert.equal(cache.has({ gain: 4 }, false), false);
});

test("the byte budget evicts the least recently used run, and a run larger than the budget is not kept", () => {
  const per = 4 * 256 + 2 * 1000; // what one run of serverRun(…, 1000) counts: four frames kept, two payloads
  const { cache, flush } = setup({ budget: 2 * per });
  for (const gain of [1, 2]) {
    cache.ask("run", { gain });
    serverRun(cache, gain, gain, 1000);
  }
  assert.ok(cache.ask("run", { gain: 1 })); // 1 is now the most recently used
  flush();
  cache.ask("run", { gain: 3 });
  serverRun(cache, 3, 3, 1000);
  assert.deepEqual([1, 2, 3].map((gain) => cache.has({ gain })), [true, false, true]);
  assert.ok(cache.bytes <= cache.budget);
  cache.ask("run", { gain: 4 });
  serverRun(cache, 4, 4, 3 * per);
  assert.equal(cache.has({ gain: 4 }), false);
  assert.deepEqual([1, 3].map((gain) => cache.has({ gain })), [true, true]);
});
