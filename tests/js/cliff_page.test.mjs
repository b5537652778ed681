// The cliff page on the lab's machinery: its table (GET /api/cliff/config) read by the same Schema and link code,
// its setting and request lifecycle in the same PageState and Requests, its answers from a frame source (live:
// /api/cliff; a static copy: the recordings), each shown only under the setting that asked for it.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

globalThis.window = globalThis;
const { CliffSource } = await import("../../static/js/cliff_source.js");
const { RecordedSource } = await import("../../static/js/frames.js");
const { formatLink, parseLink, settingQuery } = await import("../../static/js/link.js");
const { Requests } = await import("../../static/js/requests.js");
const { Schema } = await import("../../static/js/schema.js");
const { PageState } = await import("../../static/js/state.js");

const table = JSON.parse(readFileSync(new URL("./cliff_table.json", import.meta.url)));
const schema = new Schema(table.fields, table.link_version);
const pageKeys = table.page_keys;

function page(config = {}) {
  const urls = [];
  const state = new PageState(schema, { config, pageKeys, writeUrl: (q) => urls.push(q) });
  const sent = [];
  const requests = new Requests(state, (cfg, how) => sent.push({ cfg, how }));
  return { state, urls, sent, requests };
}

test("values parse within the table's ranges and name the key otherwise", () => {
  assert.equal(schema.parseValue("T", "80"), 80);
  assert.equal(schema.parseValue("w0", " -2.5 "), -2.5);
  assert.equal(schema.parseValue("readout", "linear"), "linear");
  assert.throws(() => schema.parseValue("T", "2.5"), /T must be an integer from 1 to 100; got 2.5/);
  assert.throws(() => schema.parseValue("T", "0"), /T must be an integer from 1 to 100/);
  assert.throws(() => schema.parseValue("lr", "0"), /lr must be a number greater than 0 to 100/);
  assert.throws(() => schema.parseValue("w0", ""), /w0 must be a number/);
  assert.throws(() => schema.parseValue("w0", "Infinity"), /w0 must be a number/);
  assert.throws(() => schema.parseValue("readout", "tanh"), /readout must be one of 'sigmoid', 'linear'/);
  for (const [k, v] of [["T", 7], ["w0", -0.125], ["readout", "linear"], ["lr", 1e-7]]) {
    assert.equal(schema.parseValue(k, schema.formatValue(k, v)), v);
  }
});

test("a link round-trips and writes the version, then only the keys that differ from their defaults", () => {
  const { config, page: p, notices } = parseLink(schema, pageKeys, "?v=1&T=80&lr=0.25&lesson=the-cliff");
  assert.deepEqual(notices, []);
  assert.deepEqual(config, { ...schema.defaults(), T: 80, lr: 0.25 });
  assert.deepEqual(p, { lesson: "the-cliff" });
  assert.equal(formatLink(schema, pageKeys, config, {}), "?v=1&T=80&lr=0.25");
  assert.equal(formatLink(schema, pageKeys, config, p), "?v=1&T=80&lr=0.25&lesson=the-cliff");
  assert.deepEqual(parseLink(schema, pageKeys, formatLink(schema, pageKeys, config, p)).config, config);
  assert.equal(formatLink(schema, pageKeys, schema.defaults(), {}), "?v=1");
});

test("a bad or unknown link key keeps its default and says so", () => {
  const { config, notices } = parseLink(schema, pageKeys, "T=0&colour=red&w0=3");
  assert.equal(config.T, 50);
  assert.equal(config.w0, 3);
  assert.deepEqual(notices.map((n) => n.field), ["T", "colour"]);
  assert.match(notices[0].message, /T must be an integer from 1 to 100; got 0; using the default 50/);
});

test("the page state owns the cliff's link: the lesson stays in it, a refused value changes nothing", () => {
  const { state, urls } = page();
  state.setPage("lesson", "the-cliff");
  state.set({ T: 20 });
  assert.equal(urls.at(-1), "?v=1&T=20&lesson=the-cliff");
  assert.throws(() => state.set({ T: 1000 }), /T must be an integer from 1 to 100/);
  assert.equal(state.config.T, 20, "a refused value leaves the setting as it was");
  assert.throws(() => state.setPage("embed", true), /unknown page key 'embed'/, "the cliff has no embed key");
});

test("an answer is shown under the setting that asked for it; a moved control is a new request", () => {
  const { state, sent, requests } = page();
  assert.equal(state.view.status, "idle");
  requests.request("commit", true);
  assert.equal(state.view.status, "computing");
  assert.equal(sent.length, 1);
  state.set({ clip_at: 2 }); // a commit while the first is in flight supersedes it at once
  assert.equal(sent.length, 2);
  assert.equal(sent[1].cfg.clip_at, 2);
  // Only the newest request's answer reaches the page (the source drops the rest): it is tagged with its setting.
  state.traceStarted(2);
  state.traceDone(2);
  requests.settle(2);
  assert.equal(state.view.status, "shown");
  assert.ok(state.showsCurrent());
  assert.equal(state.view.shown.config.clip_at, 2);
  state.set({ readout: "linear" });
  assert.ok(!state.showsCurrent(), "the views show the sigmoid readout until the new answer comes");
  state.traceFailed(); // the server refused it
  requests.settle(3, true);
  assert.equal(state.view.status, "failed");
  assert.equal(state.view.shown.config.readout, "sigmoid", "the views keep the answer they had");
});

test("latest wins: a slide waits for the answer in flight, then only the newest value is asked for", () => {
  const { state, sent, requests } = page();
  requests.request("commit", true);
  for (const w0 of [4.6, 4.7, 4.8]) state.set({ w0 }, "slide");
  assert.equal(sent.length, 1, "slides wait while an answer is in flight");
  state.traceStarted(1);
  state.traceDone(1);
  requests.settle(1);
  assert.deepEqual(sent.map((s) => [s.cfg.w0, s.how]), [[4.5, "commit"], [4.8, "slide"]]);
  requests.settle(1);
  assert.equal(sent.length, 2, "one answer lets one request go");
});

test("a static copy answers the page's own request key, whatever the order or spelling of the recording", async () => {
  window.GFL_RECORDINGS = { "data/a.js": [['{"grid":"a","paths":{"plain":{"loss":["inf"]}}}', null]],
    "data/b.js": [['{"grid":"b"}', null]] };
  const { state } = page();
  const recordings = [
    { kind: "run", config: { readout: "sigmoid", ...schema.defaults(), lr: 0.5 }, src: "data/a.js" },
    { kind: "run", config: { ...schema.defaults(), T: 10, lr: 25.0 }, src: "data/b.js" },
  ];
  const frames = [];
  const source = new RecordedSource((f) => frames.push(f), () => {}, {
    recordings, keyOf: (kind, c) => state.traceKey(c), missing: "not in this copy" });
  source.run(state.config);
  state.set({ T: 10, lr: schema.parseValue("lr", "25.0") }); // a try's value as its button holds it
  source.run(state.config);
  state.set({ readout: "linear" });
  source.run(state.config);
  await new Promise((resolve) => setTimeout(resolve, 10));
  // Only the newest request is answered: it is not recorded, so the copy says so, naming no field.
  assert.deepEqual(frames, [{ type: "error", run: 3, field: null, message: "not in this copy" }]);
  frames.length = 0;
  state.set({ readout: "sigmoid" });
  source.run(state.config);
  await new Promise((resolve) => setTimeout(resolve, 10));
  assert.deepEqual(frames, [{ grid: "b", run: 4 }]);
  state.set({ T: 50, lr: 0.5 });
  source.run(state.config);
  await new Promise((resolve) => setTimeout(resolve, 10));
  assert.equal(frames[1].grid, "a");
  assert.equal(frames[1].paths.plain.loss[0], Infinity, "the wire's 'inf' is a number again");
});

test("the live source asks /api/cliff with every key, delivers the newest answer only, and a 422 as an error", async () => {
  const answers = [];
  globalThis.fetch = (url) => new Promise((resolve) => answers.push({ url, resolve }));
  const frames = [];
  const source = new CliffSource((f) => frames.push(f), () => {}, (c) => settingQuery(schema, c));
  source.run(schema.defaults());
  source.run({ ...schema.defaults(), T: 20 });
  assert.equal(new URLSearchParams(answers[1].url.split("?")[1]).size, schema.fields.length);
  assert.equal(new URLSearchParams(answers[1].url.split("?")[1]).get("T"), "20");
  const ok = (text) => ({ ok: true, text: async () => text });
  answers[1].resolve(ok('{"grid":"new","loss":"nan"}'));
  answers[0].resolve(ok('{"grid":"old"}')); // late: a newer request was sent
  await new Promise((resolve) => setTimeout(resolve, 10));
  assert.equal(frames.length, 1);
  assert.equal(frames[0].grid, "new");
  assert.equal(frames[0].run, 2);
  assert.ok(Number.isNaN(frames[0].loss));
  source.run({ ...schema.defaults(), w_max: 0 });
  answers[2].resolve({ ok: false, json: async () => ({ field: "w_max", message: "w_max must be greater than w_min (1); got 0" }) });
  await new Promise((resolve) => setTimeout(resolve, 10));
  assert.deepEqual(frames[1], { type: "error", run: 3, field: "w_max", message: "w_max must be greater than w_min (1); got 0" });
});
