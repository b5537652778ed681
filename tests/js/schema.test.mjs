// The config table on the page: checking, reading and writing values, when keys apply, what they affect.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { Schema } from "../../static/js/schema.js";

const table = JSON.parse(readFileSync(new URL("./fields.json", import.meta.url)));
const schema = new Schema(table.fields, table.link_version);

test("check names the key and the allowed range", () => {
  assert.equal(schema.check("seq_len", 30), 30);
  assert.throws(() => schema.check("seq_len", 0), /seq_len must be an integer from 1 to 2000; got 0/);
  assert.throws(() => schema.check("seq_len", 2.5), /seq_len must be an integer/);
  assert.throws(() => schema.check("clip_at", 0), /clip_at must be a number greater than 0 to 1000000/);
  assert.throws(() => schema.check("cell", "transformer"), /cell must be one of 'rnn', 'lstm', 'gru'/);
  assert.throws(() => schema.check("colour", 1), /unknown config key 'colour'/);
});

test("parseValue reads what formatValue writes, for every key", () => {
  const samples = { cell: "gru", bidirectional: true, seq_len: 123, gain: 1.25, clip_at: 0.5, lr: 0.001 };
  for (const [k, v] of Object.entries(samples)) assert.equal(schema.parseValue(k, schema.formatValue(k, v)), v);
  assert.equal(schema.parseValue("bidirectional", "yes"), true);
  assert.equal(schema.parseValue("bidirectional", "off"), false);
  assert.throws(() => schema.parseValue("gain", "abc"), /gain must be a number from 0 to 10; got "abc"/);
});

test("applies follows the table: forget_bias only for the LSTM, nonlinearity only for the RNN", () => {
  const rnn = schema.defaults();
  const lstm = { ...rnn, cell: "lstm" };
  assert.ok(schema.applies("nonlinearity", rnn) && !schema.applies("nonlinearity", lstm));
  assert.ok(schema.applies("forget_bias", lstm) && !schema.applies("forget_bias", rnn));
  assert.ok(!schema.applies("seq_len", { ...rnn, arch: "one-to-one" }));
  assert.ok(!schema.applies("clip_at", rnn) && schema.applies("clip_at", { ...rnn, clip: "value" }));
  assert.deepEqual(schema.applicableOnly({ ...rnn, forget_bias: 3 }), rnn);
});

test("affects: the training keys need no new trace; the data keys are the batch's", () => {
  assert.deepEqual(["optimizer", "lr", "steps"].map((k) => schema.trainingOnly(k)), [true, true, true]);
  assert.ok(!schema.trainingOnly("batch_size") && !schema.trainingOnly("gain"));
  assert.deepEqual(schema.keysAffecting("data").sort(), ["arch", "batch_size", "lag", "seed", "seq_len", "task"]);
  const a = schema.defaults();
  assert.equal(schema.settingKey(a), schema.settingKey({ ...a, lr: 0.5 }));
  assert.notEqual(schema.settingKey(a, "training"), schema.settingKey({ ...a, lr: 0.5 }, "training"));
  // A key that does not apply changes neither key.
  assert.equal(schema.settingKey(a, "training"), schema.settingKey({ ...a, forget_bias: 2 }, "training"));
});

test("differences and legends are in the table's words", () => {
  const a = { ...schema.defaults(), clip: "norm", clip_at: 0.5 };
  const b = schema.defaults();
  assert.equal(schema.differences(a, b), "Clipping = by total norm, Clip threshold = 0.5");
  assert.equal(schema.differences(b, a), "Clipping = none");
  assert.equal(schema.legendText("cell", "lstm"), "LSTM");
  assert.equal(schema.legendText("clip", "norm"), "Clipping by total norm");
  assert.equal(schema.legendText("bidirectional", true), "Bidirectional on");
  assert.equal(schema.legendText("clip_at", 0.2), "Clip threshold 0.2");
});

test("compare pairs round-trip and report what they cannot read", () => {
  const { pairs, problems } = schema.parsePairs("cell:lstm,clip:norm,colour:red,seq_len:abc,cell:gru");
  assert.deepEqual(pairs, [["cell", "gru"], ["clip", "norm"]]);
  assert.equal(problems.length, 2);
  assert.match(problems[0], /unknown key 'colour'/);
  assert.match(problems[1], /seq_len must be an integer/);
  assert.deepEqual(schema.parsePairs(schema.formatPairs(pairs)).pairs, pairs);
});
