// node --test tests/js/cliff_state.test.mjs
import assert from "node:assert/strict";
import { test } from "node:test";

import { CliffState, formatValue, parseLink, parseValue, writeLink } from "../../static/js/cliff_state.js";

// The same shape as GET /api/cliff's "fields" (engine.config.Field.describe).
const FIELDS = [
  { name: "T", type: "int", default: 50, min: 1, max: 100, min_exclusive: false },
  { name: "readout", type: "choice", default: "sigmoid", choices: ["sigmoid", "linear"] },
  { name: "w0", type: "float", default: 4.5, min: -20, max: 20, min_exclusive: false },
  { name: "lr", type: "float", default: 0.5, min: 0, max: 100, min_exclusive: true },
];

test("values parse within the table's ranges and name the key otherwise", () => {
  assert.equal(parseValue(FIELDS[0], "80"), 80);
  assert.equal(parseValue(FIELDS[2], " -2.5 "), -2.5);
  assert.equal(parseValue(FIELDS[1], "linear"), "linear");
  assert.throws(() => parseValue(FIELDS[0], "2.5"), /T must be an integer from 1 to 100; got "2.5"/);
  assert.throws(() => parseValue(FIELDS[0], "0"), /T must be an integer from 1 to 100/);
  assert.throws(() => parseValue(FIELDS[3], "0"), /lr must be a number greater than 0 to 100/);
  assert.throws(() => parseValue(FIELDS[2], ""), /w0 must be a number/);
  assert.throws(() => parseValue(FIELDS[2], "Infinity"), /w0 must be a number/);
  assert.throws(() => parseValue(FIELDS[1], "tanh"), /readout must be one of sigmoid, linear/);
  for (const [f, v] of [[FIELDS[0], 7], [FIELDS[2], -0.125], [FIELDS[1], "linear"], [FIELDS[3], 1e-7]]) {
    assert.equal(parseValue(f, formatValue(f, v)), v);
  }
});

test("a link round-trips and writes only the keys that differ from their defaults", () => {
  const { config, notices } = parseLink("?v=1&T=80&lr=0.25&lesson=the-cliff", FIELDS);
  assert.deepEqual(notices, []);
  assert.deepEqual(config, { T: 80, readout: "sigmoid", w0: 4.5, lr: 0.25 });
  assert.equal(writeLink(config, FIELDS, 1), "v=1&T=80&lr=0.25");
  assert.equal(writeLink(config, FIELDS, 1, { lesson: "the-cliff" }), "v=1&T=80&lr=0.25&lesson=the-cliff");
  assert.deepEqual(parseLink(writeLink(config, FIELDS, 1), FIELDS).config, config);
  assert.equal(writeLink(parseLink("", FIELDS).config, FIELDS, 1), "v=1");
});

test("a bad or unknown link key keeps its default and says so", () => {
  const { config, notices } = parseLink("T=0&colour=red&w0=3", FIELDS);
  assert.equal(config.T, 50);
  assert.equal(config.w0, 3);
  assert.deepEqual(notices.map((n) => n.field), ["T", "colour"]);
  assert.match(notices[0].message, /T must be an integer from 1 to 100; got "0"; its default is used/);
});

test("an answer is shown only under the setting that asked for it", () => {
  const state = new CliffState(FIELDS, parseLink("", FIELDS).config, 1);
  assert.equal(state.phase, "idle");
  const first = state.start();
  assert.equal(state.phase, "computing");
  state.set("T", "20");
  const second = state.start();
  assert.notEqual(first, second);
  assert.equal(state.accept(first), false, "a stale answer is dropped");
  assert.equal(state.phase, "computing");
  assert.equal(state.fail(first, "late error"), false);
  assert.equal(state.accept(second), true);
  assert.equal(state.phase, "shown");
  assert.equal(state.shownQuery, second);
  assert.equal(new URLSearchParams(second).get("T"), "20");
  assert.throws(() => state.set("T", "x"), /T must be an integer/);
  assert.equal(state.config.T, 20, "a refused value leaves the setting as it was");
  assert.equal(state.link(), "v=1&T=20");
  assert.equal(state.fail(state.start(), "boom"), true);
  assert.equal(state.phase, "failed");
  assert.equal(state.error, "boom");
});
