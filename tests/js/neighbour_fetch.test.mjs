// A held slider's neighbours brought into the page's cache once the server has them: one at a time on a socket of
// their own, opened when first needed; only whole runs kept; only while the run on show is small; the newest
// neighbours replace the ones still waiting.
import assert from "node:assert/strict";
import { test } from "node:test";

const { NeighbourFetch, SMALL_BYTES } = await import("../../static/js/neighbour_fetch.js");
const { RunCache, Recording, runKey } = await import("../../static/js/run_cache.js");

function setup() {
  const cache = new RunCache(() => {});
  const sockets = [];
  const fetch = new NeighbourFetch(cache, (onFrame) => {
    const s = { onFrame, asked: [], run: (config, o) => s.asked.push([config, o]) };
    sockets.push(s);
    return s;
  });
  return { cache, fetch, sockets };
}

// A whole run of `config` kept in the cache, of about `bytes` bytes.
function kept(cache, config, bytes) {
  const rec = new Recording(runKey(config));
  rec.add({ type: "start", run: 1 }, null);
  rec.add({ type: "done", run: 1 }, new ArrayBuffer(bytes));
  cache.keep(rec);
}

// The socket answers its newest request whole (the server's run `n`).
function answer(socket, n, gain) {
  for (const f of [{ type: "start", run: n, config: { gain } }, { type: "forward", run: n, t: 0 }, { type: "done", run: n }]) {
    socket.onFrame(f, f.type === "forward" ? new ArrayBuffer(16) : null);
  }
}

test("neighbours are asked for one at a time, on one socket opened at the first, and kept whole", () => {
  const { cache, fetch, sockets } = setup();
  kept(cache, { gain: 1 }, 100);
  assert.equal(sockets.length, 0);
  fetch.fetch([{ gain: 1.05 }, { gain: 1.1 }], {}, { gain: 1 });
  assert.equal(sockets.length, 1);
  assert.deepEqual(sockets[0].asked.map(([c]) => c.gain), [1.05]);
  assert.ok(fetch.busy);
  answer(sockets[0], 1, 1.05);
  assert.ok(cache.has({ gain: 1.05 }));
  assert.deepEqual(sockets[0].asked.map(([c]) => c.gain), [1.05, 1.1]);
  answer(sockets[0], 2, 1.1);
  assert.ok(cache.has({ gain: 1.1 }) && !fetch.busy && fetch.fetched === 2 && sockets.length === 1);
  // Kept as the server sent them: a replay of 1.1 gives its frames.
  assert.deepEqual(cache.runs.get(runKey({ gain: 1.1 })).frames.map(([f]) => f.type), ["start", "forward", "done"]);
});

test("nothing is brought ahead when the run on show is large or not kept, nor what the page holds", () => {
  const { cache, fetch, sockets } = setup();
  kept(cache, { gain: 1 }, SMALL_BYTES + 1);
  fetch.fetch([{ gain: 1.05 }], {}, { gain: 1 });
  fetch.fetch([{ gain: 1.05 }], {}, { gain: 7 });
  assert.equal(sockets.length, 0);
  kept(cache, { gain: 2 }, 100);
  kept(cache, { gain: 2.05 }, 100);
  fetch.fetch([{ gain: 2.05 }], {}, { gain: 2 });
  assert.equal(sockets.length, 0);
});

test("a refused neighbour is skipped, and the newest neighbours replace those still waiting", () => {
  const { cache, fetch, sockets } = setup();
  kept(cache, { gain: 1 }, 100);
  fetch.fetch([{ gain: 1.05 }, { gain: 1.1 }, { gain: 0.95 }], {}, { gain: 1 });
  fetch.fetch([{ gain: 1.2 }], {}, { gain: 1 }); // the slider moved on while 1.05 was out
  sockets[0].onFrame({ type: "error", run: 1, field: null, message: "busy" }, null);
  assert.equal(cache.has({ gain: 1.05 }), false);
  assert.deepEqual(sockets[0].asked.map(([c]) => c.gain), [1.05, 1.2]);
  answer(sockets[0], 2, 1.2);
  assert.ok(cache.has({ gain: 1.2 }) && !fetch.busy);
});

test("neighbours a dragged slider has gone past are not asked for", () => {
  const { cache, fetch, sockets } = setup();
  kept(cache, { gain: 1 }, 100);
  fetch.skipWhen((c) => c.gain <= 1.05);
  fetch.fetch([{ gain: 1.05 }, { gain: 1.1 }], {}, { gain: 1 });
  assert.deepEqual(sockets[0].asked.map(([c]) => c.gain), [1.1]);
});
