// Requests (static/js/requests.js): a slide to a setting the frame source holds whole is not held back by the answer
// in flight.  The cliff's table stands in for any page's (the lifecycle is the same PageState).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

globalThis.window = globalThis;
const { Requests } = await import("../../static/js/requests.js");
const { Schema } = await import("../../static/js/schema.js");
const { PageState } = await import("../../static/js/state.js");

const table = JSON.parse(readFileSync(new URL("./cliff_table.json", import.meta.url)));
const schema = new Schema(table.fields, table.link_version);

/** A page whose source holds the runs of `heldValues` (of w0), its first request sent: what it sends is in `sent`. */
function opened(heldValues) {
  const state = new PageState(schema, { config: {}, pageKeys: table.page_keys, writeUrl: () => {} });
  const sent = [];
  const held = new Set(heldValues);
  const requests = new Requests(state, (cfg, how) => sent.push([cfg.w0, how]), (cfg, lag) => !lag && held.has(cfg.w0));
  requests.request("commit", true);
  return { state, sent, held, requests };
}

/** The answer of page run `run` arrives whole. */
function arrives(state, requests, run) {
  state.traceStarted(run);
  state.traceDone(run);
  requests.settle(run);
}

test("a slide to a held setting goes at once, superseding the answer in flight unless the server is computing it", () => {
  const { state, sent, held, requests } = opened([4.7]);
  state.set({ w0: 4.6 }, "slide");
  assert.equal(sent.length, 1, "a value not held waits for the answer in flight");
  state.set({ w0: 4.7 }, "slide");
  assert.deepEqual(sent.at(-1), [4.7, "slide"], "a held value is asked for now, and is still a slide to the views");
  state.set({ w0: 4.8 }, "slide");
  assert.equal(sent.length, 2, "the held value's answer is now the one in flight: the next value waits for it");
  arrives(state, requests, 2);
  assert.deepEqual(sent.map(([w0]) => w0), [4.5, 4.7, 4.8], "then the newest value goes");
  state.computing(2.5); // the server computes 4.8's answer for a while
  held.add(4.9);
  state.set({ w0: 4.9 }, "slide");
  assert.equal(sent.length, 3, "a computation under way is not thrown away for a held value");
});

test("a slide to a held setting waits for a held setting's replay in flight, which it would drop unshown", () => {
  const { state, sent, requests } = opened([4.6, 4.7]);
  state.set({ w0: 4.6 }, "slide"); // supersedes the server's answer in flight: its replay is due in the next task
  state.set({ w0: 4.7 }, "slide"); // before that task
  assert.deepEqual(sent, [[4.5, "commit"], [4.6, "slide"]], "4.6's replay, not yet shown, is not superseded");
  arrives(state, requests, 2);
  assert.deepEqual(sent.at(-1), [4.7, "slide"], "once it is shown, the newest value goes");
});
