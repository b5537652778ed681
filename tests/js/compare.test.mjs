// Compare mode's DOM-free parts: the layer/direction pick (its link words: state.test.mjs), the files holding every setting, the
// values a change brings along from the lessons, and the slide layout of a downloaded PNG.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { compareCSV, compareJSON, csvField } from "../../static/js/compare_export.js";
import { handoffSteps, sourceShare } from "../../static/js/compare_handoff.js";
import { TOP, pickChoices, pickFromValue, pickValue, pickWords } from "../../static/js/compare_pick.js";
import { lessonSuggestion } from "../../static/js/compare_suggest.js";
import { Schema } from "../../static/js/schema.js";
import { slideLayout, typeset, wrapWords } from "../../static/js/slide_png.js";

const table = JSON.parse(readFileSync(new URL("./fields.json", import.meta.url)));
const schema = new Schema(table.fields, table.link_version);

test("a pick round-trips through the select's value and is said in words", () => {
  for (const pick of [TOP, { layer: null, d: 1 }, { layer: 0, d: 0 }, { layer: 2, d: 1 }]) {
    assert.deepEqual(pickFromValue(pickValue(pick)), pick);
  }
  assert.equal(pickWords({ layer: 0, d: 1 }), "layer 1 (bottom), reverse");
  assert.equal(pickWords(TOP), "top layer, forward");
});

test("the choices cover every layer and direction of the largest setting, and keep a link's pick", () => {
  assert.deepEqual(pickChoices(1, 1).map(pickValue), ["top,0"]);
  assert.deepEqual(pickChoices(2, 2).map(pickValue), ["top,0", "top,1", "0,0", "0,1", "1,0", "1,1"]);
  assert.deepEqual(pickChoices(1, 1, { layer: 2, d: 0 }).map(pickValue), ["top,0", "2,0"]);
});

const fakeTrace = (config, csv) => ({ config, toCSV: () => csv, toJSON: () => JSON.stringify({ config, n: csv.length }) });

test("the compare CSV and JSON hold every setting's rows, each named", () => {
  const rows = [
    { name: "A", label: "A: vanilla RNN", trace: fakeTrace({ cell: "rnn" }, "t,layer,direction,grad_h_norm\n0,0,forward,1\n1,0,forward,2\n") },
    { name: "B", label: "B: LSTM, Forget-gate bias 3", trace: fakeTrace({ cell: "lstm" }, "t,layer,direction,grad_h_norm\n0,0,forward,3\n") },
  ];
  assert.equal(compareCSV(rows), "setting,label,t,layer,direction,grad_h_norm\nA,A: vanilla RNN,0,0,forward,1\n" +
    "A,A: vanilla RNN,1,0,forward,2\nB,\"B: LSTM, Forget-gate bias 3\",0,0,forward,3\n");
  const json = JSON.parse(compareJSON(rows, { layer: 0, d: 1 }));
  assert.equal(json.shown, "layer 1 (bottom), reverse");
  assert.deepEqual(json.settings.map((s) => [s.name, s.config.cell, s.trace.config.cell]), [["A", "rnn", "rnn"], ["B", "lstm", "lstm"]]);
  assert.equal(csvField('say "hi"'), '"say ""hi"""');
});

const lesson = (title, link) => ({ title, params: new URL(link, "http://lab/").searchParams });

test("changing the cell to LSTM brings the forget bias of the first lesson that makes that change", () => {
  const base = schema.defaults();
  const lessons = [lesson("Vanishing", "/?seq_len=100"), lesson("Copying", "/?cell=gru&forget_bias=1"),
    lesson("The LSTM", "/?cell=lstm&seq_len=100&forget_bias=3"), lesson("Later", "/?cell=lstm&forget_bias=1")];
  assert.deepEqual(lessonSuggestion(schema, base, "cell", "lstm", lessons),
    { pairs: [["forget_bias", 3]], keys: ["forget_bias"], lesson: "The LSTM" });
  // No lesson makes the change: nothing offered, and the keys that now matter are named.
  assert.deepEqual(lessonSuggestion(schema, base, "cell", "lstm", lessons.slice(0, 2)),
    { pairs: [], keys: ["forget_bias"], lesson: null });
  // A change that makes no new key matter brings nothing.
  assert.equal(lessonSuggestion(schema, base, "seq_len", 30, lessons), null);
  assert.equal(lessonSuggestion(schema, { ...base, cell: "lstm" }, "seq_len", 30, lessons), null);
});

test("a slide's layout: projector-sized type, a title with the setting, legend and axis formulas typeset", () => {
  assert.equal(typeset("bound: (γ·σ_max)^distance"), "bound: (γ·σ<sub>max</sub>)<sup>distance</sup>");
  assert.equal(typeset("‖∂L/∂h_t‖ (log)"), "‖∂L/∂h<sub>t</sub>‖ (log)");
  assert.equal(typeset("h<sub>t</sub>_x"), "h<sub>t</sub>_x"); // already typeset: left alone
  assert.equal(wrapWords("aaaa, bbbb, cccc", 10), "aaaa, bbbb,<br>cccc");
  const page = { font: { size: 12 }, margin: { l: 64, t: 28 }, width: 500, legend: { font: { size: 11 } },
    xaxis: { title: { text: "timestep t" } }, yaxis: { title: { text: "‖∂L/∂h_t‖ (log)", standoff: 4 } },
    annotations: [{ text: "▲ inf / NaN", font: { size: 10 } }] };
  const slide = slideLayout(page, { title: "‖∂L/∂h<sub>t</sub>‖ per setting", setting: "Cell = LSTM, Sequence length T = 100" });
  assert.equal(slide.width, undefined);
  assert.ok(slide.font.size >= 18 && slide.legend.font.size >= 18 && slide.yaxis.tickfont.size >= 18);
  assert.ok(slide.annotations[0].font.size >= 16);
  assert.equal(slide.yaxis.title.text, "‖∂L/∂h<sub>t</sub>‖ (log)");
  assert.ok(slide.yaxis.automargin && slide.margin.t > page.margin.t);
  assert.match(slide.title.text, /^<b>‖∂L\/∂h<sub>t<\/sub>‖ per setting<\/b><br>.*Cell = LSTM, Sequence length T = 100/);
  assert.equal(page.font.size, 12); // the page's own layout is left as it was
});

/** A stand-in for a RunTrace of an encoder–decoder: layer 0, forward, over the 2T steps of the joined axis. */
function seq2seqTrace(norms, handoff) {
  return { start: { handoff }, normSeries: (which, l, d, from, to) => {
    assert.deepEqual([which, l, d], ["h", 0, 0]);
    return norms.map((v, t) => (t >= from && t < to ? v : null));
  } };
}

test("compare marks each distinct handoff once and measures the first source word's share over the encoder's steps", () => {
  const without = seq2seqTrace([1e-6, 1e-3, 0.5, 0.9, 0.7, 0.6], 3); // the decoder's steps after the handoff: not read
  const attending = seq2seqTrace([0.2, 0.3, 0.4, 0.9, 0.7, 0.6], 3);
  const longer = seq2seqTrace([0.1, 0.1, 0.1, 0.2, 0.5, 0.5, 0.5, 0.5], 4);
  const plain = { start: { handoff: null }, normSeries: () => assert.fail("not an encoder–decoder: nothing to read") };
  assert.deepEqual(handoffSteps([{ trace: longer }, { trace: without }, { trace: attending }, { trace: plain }]), [3, 4]);
  assert.deepEqual(handoffSteps([{ trace: plain }]), []);
  assert.equal(sourceShare(without), 1e-6 / 0.5);
  assert.equal(sourceShare(attending), 0.2 / 0.4);
  assert.equal(sourceShare(longer), 0.1 / 0.2);
  assert.equal(sourceShare(plain), null);
});
