// The lag map's place in the page's state: the link's `view` key (its values the server's), the requests that carry
// "lag": true while the view is open and only then, a result with the map answering a request without it, and the
// socket and recorded source that bring the `lag` frame with its binary map.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { formatLink, parseLink } from "../../static/js/link.js";
import { Requests } from "../../static/js/requests.js";
import { Schema } from "../../static/js/schema.js";
import { PageState } from "../../static/js/state.js";

const table = JSON.parse(readFileSync(new URL("./fields.json", import.meta.url)));
const schema = new Schema(table.fields, table.link_version);
const { page_keys: pageKeys, views } = table; // GET /api/config: the page's keys and the views `view` may open

function fresh(page = {}) {
  const urls = [];
  const state = new PageState(schema, { config: {}, page, pageKeys, writeUrl: (q) => urls.push(q) });
  const sent = [];
  const requests = new Requests(state, (config, how) => sent.push({ config, how, lag: state.request.lag }));
  return { state, urls, sent, requests };
}

/** The trace of the newest request arrives whole. */
function arrives(state, run) {
  state.traceStarted(run);
  state.traceDone(run);
}

test("a link's view is one of the server's views; another value is ignored with a notice naming the key", () => {
  assert.ok(views.includes("lag") && views.includes("grad-norm"), views);
  const read = parseLink(schema, pageKeys, "?v=1&arch=many-to-many&view=lag", views);
  assert.equal(read.page.view, "lag");
  assert.deepEqual(read.notices, []);
  assert.equal(formatLink(schema, pageKeys, read.config, read.page), "?v=1&arch=many-to-many&view=lag");
  const bad = parseLink(schema, pageKeys, "?view=<script>", views);
  assert.equal(bad.page.view, null);
  assert.deepEqual(bad.notices, [{ field: "view", message: `view must be one of ${views.map((v) => `'${v}'`).join(", ")}; got "<script>"; ignored` }]);
  assert.equal(formatLink(schema, pageKeys, bad.config, bad.page), "?v=1", "no view: the link says none");
});

test("requests carry the lag map only while its view is open, and opening it asks for the map once", () => {
  const { state, urls, sent, requests } = fresh();
  requests.request("commit", true);
  assert.deepEqual(sent.map((r) => r.lag), [false]);
  arrives(state, 1);
  requests.settle(1);
  assert.equal(state.showsLag(), false);
  state.setLagView(true);
  assert.equal(urls.at(-1), "?v=1&view=lag", "the link says the view is open: Copy link carries it");
  assert.deepEqual(sent.map((r) => r.lag), [false, true], "the shown result lacks the map: it is asked for at once");
  state.setLagView(true);
  assert.equal(sent.length, 2, "open twice is one request");
  arrives(state, 2);
  requests.settle(2);
  assert.ok(state.showsLag() && state.view.shown.lag);
  // A moved control asks with the map while the view is open...
  state.set({ gain: 1.5 }, "slide");
  assert.deepEqual(sent.at(-1), { config: { ...state.config }, how: "slide", lag: true });
  arrives(state, 3);
  requests.settle(3);
  // ...and without it once closed; closing asks for nothing: the result with the map answers the view without it.
  state.setLagView(false);
  assert.equal(urls.at(-1), "?v=1&gain=1.5");
  assert.equal(sent.length, 3);
  assert.equal(state.requestTrace("commit"), null);
  state.set({ gain: 1.6 });
  assert.equal(sent.at(-1).lag, false);
});

test("a trace in flight without the map is superseded when the view opens; one with it is not asked for again", () => {
  const { state, sent, requests } = fresh();
  requests.request("commit", true);
  state.setLagView(true);
  assert.deepEqual(sent.map((r) => r.lag), [false, true]);
  state.setLagView(false);
  state.setLagView(true);
  assert.equal(sent.length, 2, "the request with the map in flight answers the view");
});

test("opening the view asks nothing while a training runs, nor over a trained model's views; Train carries the map", () => {
  const { state, sent, requests } = fresh();
  requests.request("commit", true);
  arrives(state, 1);
  requests.settle(1);
  state.startTraining();
  state.setLagView(true);
  assert.equal(state.lagDue(), false);
  assert.equal(sent.length, 1, "a trace request would end the training");
  state.stopTraining("stop");
  state.setLagView(false);
  state.startTraining();
  assert.equal(state.request.lag, false, "Train with the view closed: no map");
  state.stopTraining("stop");
  state.setLagView(true);
  assert.equal(sent.length, 2, "after Stop the untrained views are on show: the map is due");
  arrives(state, 2);
  const config = state.startTraining();
  assert.ok(config && state.request.lag, "Train with the view open asks for the maps while training");
  state.trainDone({ steps_done: 3, diverged_at: null });
  arrives(state, 3);
  assert.equal(state.view.shown.lag, true, "the trained model's trace came with the map");
  state.setLagView(false);
  state.setLagView(true);
  assert.equal(sent.length, 2, "the trained model's views stay: the map of the trained model comes with Train");
});

test("a page without the view key (the cliff's) has no lag view", () => {
  const state = new PageState(schema, { config: {}, pageKeys: { v: "version", lesson: "lesson" } });
  state.setLagView(true);
  assert.equal(state.wantsLag, false);
});
