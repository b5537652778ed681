// Uploads in the page state: what is active (name, size, the server's echo), the request lifecycle tagged
// with it, and a link that never mentions it.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { Schema } from "../../static/js/schema.js";
import { PageState } from "../../static/js/state.js";

const table = JSON.parse(readFileSync(new URL("./fields.json", import.meta.url)));
const schema = new Schema(table.fields, table.link_version);

function fresh() {
  const urls = [];
  const state = new PageState(schema, { config: { cell: "gru" }, page: {}, writeUrl: (q) => urls.push(q) });
  const changes = [];
  state.listen((c) => changes.push(c));
  return { state, urls, changes };
}

const MODEL = { type: "model_loaded", sha256: "aa", bytes: 1234, cell: "lstm", token: "t1", resumed: false };
const SERIES = { type: "series_loaded", sha256: "bb", bytes: 99, name: "price", length: 50, token: "t2", resumed: false };

function shownOnce(state, run) {
  state.requestTrace("commit", true);
  state.traceStarted(run);
  state.traceDone(run);
}

test("an upload goes sending -> active, is tagged on every request, and never enters the link", () => {
  const { state, urls, changes } = fresh();
  shownOnce(state, 1);
  const link = state.query;
  state.uploadSent("model", { name: "homework.pt", size: 1234 });
  assert.equal(state.uploads.model.status, "sending");
  assert.equal(state.uploadActive("model"), false);
  assert.equal(state.uploadLoaded("model", MODEL), true, "a new model: the trace is due again");
  assert.deepEqual(changes.at(-1), { type: "uploads", kind: "model", changed: true, stoppedTraining: false });
  assert.deepEqual({ ...state.uploads.model, echoed: null }, { status: "active", name: "homework.pt", size: 1234, echoed: null, message: "" });
  assert.equal(state.uploads.model.echoed, MODEL);
  assert.equal(state.uploadKey(), "model:aa");
  assert.ok(!state.showsCurrent(), "the views show the configured model, not the upload");
  const config = state.requestTrace("commit");
  assert.ok(config, "the same setting with an upload is a new request");
  assert.equal(state.request.uploads, "model:aa");
  state.traceStarted(2);
  state.traceDone(2);
  assert.equal(state.view.shown.uploads, "model:aa");
  assert.ok(state.showsCurrent());
  assert.equal(state.requestTrace("commit"), null, "not asked twice");
  assert.equal(state.query, link);
  assert.ok(urls.every((q) => !/model|series|homework|aa/.test(q)), urls.join(" "));
});

test("a refused file leaves the active one in place; a first refused file leaves none", () => {
  const { state } = fresh();
  state.uploadSent("series", { name: "bad.csv", size: 9 });
  state.uploadRefused("series", "row 3, column 'price': 'ten' is not a finite number");
  assert.equal(state.uploads.series, null);
  state.uploadSent("series", { name: "good.csv", size: 99 });
  state.uploadLoaded("series", SERIES);
  state.uploadSent("series", { name: "worse.csv", size: 5 });
  assert.ok(state.uploadActive("series") === false && state.uploads.series.before.name === "good.csv");
  state.uploadRefused("series", "no rows");
  assert.equal(state.uploads.series.name, "good.csv");
  assert.ok(state.uploadActive("series"));
  assert.deepEqual(state.activeUploads(), ["series"]);
});

test("a resumed or re-sent upload is the same upload: no new trace; a clear is a change", () => {
  const { state, changes } = fresh();
  state.uploadSent("model", { name: "m.pt", size: 1234 });
  state.uploadLoaded("model", MODEL);
  state.uploadLoaded("series", SERIES);
  assert.equal(state.uploadKey(), "model:aa series:bb");
  assert.equal(state.uploadLoaded("model", { ...MODEL, resumed: true }), false);
  state.uploadExpired("series");
  assert.equal(state.uploads.series.status, "resending");
  assert.ok(state.uploadActive("series"), "still what the page uses while the file goes again");
  assert.equal(state.uploadLoaded("series", { ...SERIES, token: "t3" }), false);
  assert.equal(state.uploads.series.echoed.token, "t3");
  assert.equal(state.uploadCleared("model"), true);
  assert.deepEqual(changes.at(-1), { type: "uploads", kind: "model", changed: true, stoppedTraining: false });
  assert.equal(state.uploadKey(), "series:bb");
  assert.equal(state.uploadLoaded("series", { ...SERIES, sha256: "cc" }), true, "another file");
  assert.throws(() => state.uploadSent("weights", { name: "x", size: 1 }), /model or series/);
});

test("a file that could not be sent again after a reconnect is gone, and that is a change", () => {
  const { state, changes } = fresh();
  state.uploadLoaded("model", MODEL);
  state.uploadExpired("model");
  state.uploadRefused("model", "the file is too large");
  assert.equal(state.uploads.model, null);
  assert.deepEqual(changes.at(-1), { type: "uploads", kind: "model", changed: true, stoppedTraining: false });
});

test("a training is current only for the files it trained on", () => {
  const { state } = fresh();
  shownOnce(state, 1);
  state.uploadSent("series", { name: "price.csv", size: 99 });
  state.uploadLoaded("series", SERIES);
  assert.ok(state.startTraining());
  state.trainDone({ steps_done: 10 });
  assert.ok(state.trainingCurrent(), "trained on the series now loaded");
  assert.equal(state.trainingUploadsDiffer(), false);
  state.uploadCleared("series");
  assert.equal(state.trainingCurrent(), false, "the series it trained on is gone");
  assert.ok(state.trainingUploadsDiffer());
  state.uploadSent("series", { name: "other.csv", size: 50 });
  state.uploadLoaded("series", { ...SERIES, sha256: "cc", token: "t3" });
  assert.equal(state.trainingCurrent(), false, "another series");
  state.uploadSent("series", { name: "price.csv", size: 99 });
  state.uploadLoaded("series", SERIES);
  assert.ok(state.trainingCurrent(), "the same file again");
});

test("another file while training stops the training, saying why; the same file again does not", () => {
  const { state, changes } = fresh();
  shownOnce(state, 1);
  state.uploadSent("series", { name: "price.csv", size: 99 });
  state.uploadLoaded("series", SERIES);
  assert.ok(state.startTraining());
  state.uploadSent("series", { name: "price.csv", size: 99 });
  state.uploadLoaded("series", { ...SERIES, resumed: true });
  assert.equal(state.training.status, "training", "a resumed upload is the same file");
  state.uploadSent("series", { name: "other.csv", size: 50 });
  state.uploadLoaded("series", { ...SERIES, sha256: "cc", token: "t3" });
  assert.equal(state.training.status, "stopped");
  assert.equal(state.training.reason, "upload");
  assert.equal(changes.at(-1).stoppedTraining, true);
  assert.ok(state.startTraining());
  state.uploadCleared("series");
  assert.deepEqual([state.training.status, state.training.reason], ["stopped", "upload"]);
});

test("an uploaded model's cell and shape become the control values, out of the link, and go back on clear", () => {
  const { state, urls, changes } = fresh(); // the page's own setting: a GRU of the default size
  shownOnce(state, 1);
  const link = state.query;
  const before = { ...state.config };
  const fixes = { cell: "lstm", hidden_size: 16, num_layers: 2, bidirectional: true };
  state.uploadSent("model", { name: "lstm16.pt", size: 1234 });
  state.uploadLoaded("model", { ...MODEL, fixes });
  for (const [k, v] of Object.entries(fixes)) assert.equal(state.config[k], v, k);
  assert.ok(state.fixedByUpload("hidden_size") && !state.fixedByUpload("seq_len"));
  // One 'values' change, before the 'uploads' one: the request that follows has both the file and its shape.
  const kinds = changes.slice(-2).map((c) => c.type);
  assert.deepEqual(kinds, ["values", "uploads"]);
  assert.deepEqual(changes.at(-2).changed.sort(), Object.keys(fixes).sort());
  assert.equal(state.query, link, "the link keeps the page's own values: the file cannot travel in it");
  assert.equal(state.requestTrace("commit").hidden_size, 16);
  state.uploadCleared("model");
  assert.deepEqual(state.config, before);
  assert.ok(!state.fixedByUpload("cell"));
  assert.equal(state.query, link);
  assert.ok(urls.every((q) => !/lstm/.test(q)), urls.join(" "));
});
