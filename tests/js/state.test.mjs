// The page state: the link read and written from one table, the control values, the request lifecycle
// (idle -> computing -> shown; training -> trained / stopped / diverged) and latest-wins pipelining.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { addressBar, formatLink, keysOfKind, parseLink } from "../../static/js/link.js";
import { Schema } from "../../static/js/schema.js";
import { PageState } from "../../static/js/state.js";

const table = JSON.parse(readFileSync(new URL("./fields.json", import.meta.url)));
const schema = new Schema(table.fields, table.link_version);
const pageKeys = table.page_keys; // the page's own link keys, as GET /api/config says them

function fresh(config = {}, page = {}) {
  const urls = [];
  const state = new PageState(schema, { config, page, pageKeys, writeUrl: (q) => urls.push(q) });
  const changes = [];
  state.listen((c) => changes.push(c));
  return { state, urls, changes };
}

test("parseLink reads model and page keys; bad values fall back with a notice naming the key", () => {
  const { config, page, notices } = parseLink(schema, pageKeys,
    "?v=1&cell=lstm&seq_len=abc&colour=red&lesson=vanishing-gradients&embed=yes&hide=cell,seq_len&cmp_b=cell:gru,gain:99");
  assert.equal(config.cell, "lstm");
  assert.equal(config.seq_len, 50);
  assert.equal(page.lesson, "vanishing-gradients");
  assert.equal(page.embed, true);
  assert.deepEqual(page.hide, ["cell", "seq_len"]);
  assert.deepEqual(page.cmp_b, [["cell", "gru"]]);
  assert.deepEqual(notices.map((n) => n.field), ["seq_len", "colour", "cmp_b"]);
  assert.match(notices[0].message, /seq_len must be an integer from 1 to 2000; got "abc"; using the default 50/);
  assert.match(notices[2].message, /gain must be a number from 0 to 10/);
});

test("formatLink writes v=, the applicable non-default keys in table order, then the page keys", () => {
  const config = { ...schema.defaults(), seq_len: 120, cell: "lstm", forget_bias: 3, nonlinearity: "relu" };
  const q = formatLink(schema, pageKeys, config, { lesson: "x", embed: false, hide: ["gain"], cmp_b: [["cell", "gru"], ["clip", "norm"]], cmp_c: [] });
  // nonlinearity does not apply to an LSTM: the link leaves it out.
  assert.equal(q, "?v=1&cell=lstm&seq_len=120&forget_bias=3&lesson=x&hide=gain&cmp_b=cell:gru,clip:norm");
  const back = parseLink(schema, pageKeys, q);
  assert.deepEqual(back.config, schema.applicableOnly(config));
  assert.deepEqual(back.page.cmp_b, [["cell", "gru"], ["clip", "norm"]]);
  assert.deepEqual(back.notices, []);
});

test("a link carries where the views stand: Show's layer and direction, compare's, and the player's step", () => {
  const q = "?v=1&num_layers=3&bidirectional=1&cmp_b=num_layers:1&cmp_show=reverse&show=2,reverse&step=57";
  const { config, page, notices } = parseLink(schema, pageKeys, q);
  assert.deepEqual(notices, []);
  assert.deepEqual(page.show, { layer: 1, d: 1 }); // layer 2 counted from the bottom, 1-based
  assert.deepEqual(page.cmp_show, { layer: null, d: 1 }); // no number: each setting's top layer
  assert.equal(page.step, 57);
  assert.equal(formatLink(schema, pageKeys, config, page), q, "written back as it was read");
  // 'top' stays in the link when it is all a pick says (a pick without words is no pick at all).
  const top = parseLink(schema, pageKeys, "?show=top,forward&cmp_show=1&step=0&hide=");
  assert.deepEqual([top.page.show, top.page.cmp_show, top.page.step], [{ layer: null, d: 0 }, { layer: 0, d: 0 }, 0]);
  assert.equal(formatLink(schema, pageKeys, top.config, top.page), "?v=1&cmp_show=1&show=top&step=0");
  assert.equal(parseLink(schema, pageKeys, "?show=").page.show, null);
});

test("a pick or a step the link cannot read is ignored whole, with a notice saying what the key takes", () => {
  const { page, notices } = parseLink(schema, pageKeys, "?show=2,sideways&cmp_show=0&step=-3&lesson=x");
  assert.deepEqual([page.show, page.cmp_show, page.step, page.lesson], [null, null, null, "x"]);
  assert.deepEqual(notices.map((n) => n.field), ["show", "cmp_show", "step"]);
  assert.match(notices[0].message, /^show must be a layer number \(1 = the bottom layer\) or 'top', and 'forward' or 'reverse', comma-separated; got "2,sideways"; ignored$/);
  assert.match(notices[2].message, /^step must be a whole number of steps from 0 \(the run's start\); got "-3"; ignored$/);
  assert.equal(parseLink(schema, pageKeys, "?step=1.5").page.step, null);
  assert.equal(formatLink(schema, pageKeys, schema.defaults(), page), "?v=1&lesson=x");
});

test("the page's keys are the server's: an unknown one is refused, compare's are its pairs keys in order", () => {
  const { state } = fresh();
  assert.deepEqual(Object.keys(state.page), ["lesson", "embed", "present", "hide", "cmp_b", "cmp_c", "view", "cmp_show", "show", "step"]);
  assert.deepEqual(keysOfKind(pageKeys, "pairs"), ["cmp_b", "cmp_c"]);
  assert.throws(() => state.setPage("colour", "red"), /unknown page key 'colour'/);
  // Another page's keys (the cliff's: v and lesson) read only those; the lab's others are unknown there.
  const { page, notices } = parseLink(schema, { v: "version", lesson: "lesson" }, "?v=1&lesson=the-cliff&embed=1");
  assert.deepEqual(page, { lesson: "the-cliff" });
  assert.deepEqual(notices.map((n) => n.field), ["embed"]);
});

test("set checks values, writes the link and says what changed; a refused value changes nothing", () => {
  const { state, urls, changes } = fresh();
  assert.deepEqual(state.set({ gain: 1.5 }, "slide"), ["gain"]);
  assert.equal(urls.at(-1), "?v=1&gain=1.5");
  assert.deepEqual(changes.at(-1), { type: "values", changed: ["gain"], how: "slide", stoppedTraining: false });
  assert.throws(() => state.set({ gain: 11 }), /gain must be a number from 0 to 10/);
  assert.equal(state.config.gain, 1.5);
  assert.deepEqual(state.set({ gain: 1.5 }), []);
  state.setPage("cmp_b", [["cell", "lstm"]]);
  assert.equal(urls.at(-1), "?v=1&gain=1.5&cmp_b=cell:lstm");
});

test("the trace lifecycle tags each shown result with its setting", () => {
  const { state } = fresh();
  assert.equal(state.view.status, "idle");
  assert.ok(state.requestTrace("commit", true));
  assert.equal(state.view.status, "computing");
  state.traceStarted(1);
  state.traceDone(1);
  assert.equal(state.view.status, "shown");
  assert.ok(state.showsCurrent());
  assert.equal(state.shownText(), "the untrained model");
  state.set({ cell: "gru" });
  assert.ok(!state.showsCurrent(), "the views show the RNN, not the GRU");
  assert.equal(schema.differences(state.view.shown.config, state.config, "trace"), "Cell = vanilla RNN");
  // A training-only key moves: the shown trace is still of this setting.
  const { state: s2 } = fresh();
  s2.requestTrace("commit", true);
  s2.traceStarted(1);
  s2.traceDone(1);
  s2.set({ lr: 0.1 });
  assert.ok(s2.showsCurrent() && !s2.needsTrace(["lr"]));
  assert.equal(s2.requestTrace("commit"), null, "the same setting is not asked for twice");
});

test("latest wins: a slide waits for the trace in flight, then the newest value goes next", () => {
  const { state } = fresh();
  assert.equal(state.requestTrace("commit", true).gain, 1);
  state.set({ gain: 1.1 }, "slide");
  assert.equal(state.requestTrace("slide"), null);
  state.set({ gain: 1.2 }, "slide");
  assert.equal(state.requestTrace("slide"), null);
  state.traceStarted(1);
  state.traceDone(1);
  const next = state.traceSettled();
  assert.equal(next.gain, 1.2, "only the newest value is sent");
  assert.equal(state.wanted, false, "nothing waits behind it");
  // A discrete change supersedes the request in flight at once.
  state.set({ gain: 1.3 }, "slide");
  assert.equal(state.requestTrace("slide"), null);
  assert.equal(state.requestTrace("commit").gain, 1.3);
});

test("training: trained, then a setting change makes it another setting's training", () => {
  const { state } = fresh({ steps: 300, cell: "gru", task: "adding" });
  state.requestTrace("commit", true);
  state.traceStarted(1);
  state.traceDone(1);
  const cfg = state.startTraining();
  assert.equal(cfg.steps, 300);
  assert.equal(state.startTraining(), null, "one training at a time");
  assert.equal(state.training.status, "training");
  state.trainProgress(300);
  state.trainDone({ steps_done: 300, diverged_at: null, final_loss: 0.01 });
  assert.equal(state.training.status, "trained");
  state.traceStarted(2);
  state.traceDone(2);
  assert.equal(state.shownText(), "the model trained 300 steps");
  assert.equal(state.view.shown.trained.seq, state.training.seq);
  assert.ok(state.trainingCurrent());
  state.set({ clip: "norm" });
  assert.ok(!state.trainingCurrent());
  assert.equal(schema.differences(state.training.config, state.config), "Clipping = none");
});

test("training: Stop after an earlier training says which model the views show", () => {
  const { state } = fresh({ steps: 300 });
  state.requestTrace("commit", true);
  state.traceStarted(1);
  state.traceDone(1);
  state.startTraining();
  state.trainDone({ steps_done: 300, diverged_at: null });
  state.traceStarted(2);
  state.traceDone(2);
  state.startTraining();
  state.trainProgress(40);
  assert.ok(state.stopTraining("stop"));
  assert.equal(state.training.status, "stopped");
  assert.equal(state.stopTraining("stop"), false, "Stop twice is one stop");
  assert.equal(state.shownText(), "the model trained 300 steps");
  assert.notEqual(state.view.shown.trained.seq, state.training.seq, "by the earlier training, not the stopped one");
});

test("training: a setting moved while training stops it, and diverged keeps its step", () => {
  const { state, changes } = fresh();
  state.startTraining();
  state.set({ gain: 2 });
  assert.equal(state.training.status, "stopped");
  assert.equal(state.training.reason, "setting");
  assert.equal(changes.at(-1).stoppedTraining, true);
  state.startTraining();
  state.trainDone({ steps_done: 37, diverged_at: 37, message: "training diverged at step 37: the loss became nan" });
  assert.equal(state.training.status, "diverged");
  assert.equal(state.training.divergedAt, 37);
  state.startTraining();
  state.trainRefused("training is not available");
  assert.equal(state.training.status, "refused");
});

test("the server's queue place is kept for the request waiting, and dropped once its trace starts", () => {
  const { state, changes } = fresh();
  state.sent("run", state.config);
  state.queued(3);
  assert.equal(state.request.queuedAt, 3);
  assert.equal(changes.at(-1).type, "view");
  state.traceStarted(1);
  assert.equal(state.request.queuedAt, null);
  state.sent("run", state.config);
  assert.equal(state.request.queuedAt, null, "a new request has no place until the server says so");
});

test("the server's estimate of a run is kept on its request, and a new request has none", () => {
  const { state, changes } = fresh();
  state.sent("run", state.config);
  state.computing(2.5);
  assert.equal(state.request.estimate, 2.5);
  assert.ok(Math.abs(state.request.estimateAt - Date.now()) < 1000);
  assert.equal(changes.at(-1).type, "view");
  state.sent("run", state.config);
  assert.equal(state.request.estimate, undefined, "a new request has no estimate until the server says so");
});

test("a presenting link: present and the view it opens on are read from the link and written back", () => {
  const read = parseLink(schema, pageKeys, "?v=1&seq_len=40&present=1&view=grad-norm", table.views);
  assert.deepEqual([read.page.present, read.page.view, read.notices], [true, "grad-norm", []]);
  assert.equal(formatLink(schema, pageKeys, read.config, read.page), "?v=1&seq_len=40&present=1&view=grad-norm");
  const off = parseLink(schema, pageKeys, "?present=0&view=the-slide", table.views);
  assert.deepEqual([off.page.present, off.page.view, off.notices.map((n) => n.field)], [false, null, ["view"]]);
});

test("a slide writes the address bar once it rests, and its end or any other change at once", () => {
  const written = [];
  const timers = { due: null, setTimeout: (fn) => ((timers.due = fn), 1), clearTimeout: () => (timers.due = null) };
  const write = addressBar({ replaceState: (_s, _t, q) => written.push(q) }, 200, timers);
  write("?gain=1.05", "slide");
  write("?gain=1.1", "slide");
  assert.deepEqual(written, []); // still sliding
  timers.due();
  assert.deepEqual(written, ["?gain=1.1"]); // rested: the newest
  write("?gain=1.15", "slide");
  write("?gain=1.15", "commit"); // let go
  assert.deepEqual(written, ["?gain=1.1", "?gain=1.15"]);
  assert.equal(timers.due, null);
});

test("letting go of a slider writes the link even when the value did not change at the release", () => {
  const urls = [];
  const state = new PageState(schema, { config: {}, pageKeys, writeUrl: (q, how) => urls.push([q, how]) });
  state.set({ gain: 1.5 }, "slide");
  state.set({ gain: 1.5 }, "commit");
  assert.deepEqual(urls.slice(-2).map(([q, how]) => [q.includes("gain=1.5"), how]), [[true, "slide"], [true, "commit"]]);
});
