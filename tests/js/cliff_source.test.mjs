// The cliff page's recorded source: a setting is found by the very query the page asks with, whatever the
// order or the spelling of its numbers in the recording; any other setting is refused with the copy's note.
import assert from "node:assert/strict";
import { test } from "node:test";

globalThis.window = globalThis;
const { RecordedCliffSource } = await import("../../static/js/cliff_source.js");
const { CliffState, queryOf } = await import("../../static/js/cliff_state.js");

const fields = [
  { name: "T", type: "int", default: 50, min: 1, max: 100 },
  { name: "lr", type: "float", default: 0.5, min: 0, max: 100, min_exclusive: true },
  { name: "readout", type: "choice", default: "sigmoid", choices: ["sigmoid", "linear"] },
];
window.GFL_RECORDINGS = { "data/cliff-a.js": { grid: "a" }, "data/cliff-b.js": { grid: "b" } };
const recordings = [
  { config: { readout: "sigmoid", lr: 0.5, T: 50 }, src: "data/cliff-a.js" },
  { config: { T: 10, lr: 25.0, readout: "sigmoid" }, src: "data/cliff-b.js" },
];
const missing = "not in this static copy";

test("a recorded setting answers the page's own query for it", async () => {
  const source = new RecordedCliffSource(recordings, (c) => queryOf(fields, c), missing);
  const state = new CliffState(fields, { T: 50, lr: 0.5, readout: "sigmoid" }, 1);
  assert.deepEqual(await source.get(state.query()), { ok: true, body: { grid: "a" } });
  state.set("T", "10");
  state.set("lr", "25.0"); // a try's value as the page's button holds it
  assert.deepEqual(await source.get(state.query()), { ok: true, body: { grid: "b" } });
});

test("a setting outside the recordings is refused with the copy's note, naming no field", async () => {
  const source = new RecordedCliffSource(recordings, (c) => queryOf(fields, c), missing);
  const state = new CliffState(fields, { T: 50, lr: 0.5, readout: "linear" }, 1);
  assert.deepEqual(await source.get(state.query()), { ok: false, body: { field: null, message: missing } });
});
