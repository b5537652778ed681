import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { followLink, followerPlan, presenterState, roomOfHash, worthSending } from "../../static/js/follow_state.js";
import { emptyPage } from "../../static/js/link.js";
import { Schema } from "../../static/js/schema.js";

const table = JSON.parse(readFileSync(new URL("./fields.json", import.meta.url)));
const schema = new Schema(table.fields, table.link_version);
const { page_keys: pageKeys, views } = table;
const EMPTY = emptyPage(pageKeys);
const plan = (page, query) => followerPlan(schema, pageKeys, page, { query }, views);

test("a follow link's room is read from its fragment, and only a well-formed id", () => {
  const id = "AbCdEfGhIjKlMnOpQrStUv";
  assert.equal(roomOfHash(new URL(followLink("http://lab:8000", id)).hash), id);
  assert.equal(roomOfHash("#follow=short"), null);
  assert.equal(roomOfHash("#follow=" + id + "%3Cb%3E"), null);
  assert.equal(roomOfHash(""), null);
});

test("a playing presenter's moving step is not worth a frame; a pause, a seek or a new setting is", () => {
  const playing = presenterState({ query: "?v=1", cursor: 3, playing: true, answerShown: false, enlarged: null });
  assert.equal(worthSending(null, playing), true);
  assert.equal(worthSending(playing, { ...playing, step: 30 }), false);
  assert.equal(worthSending(playing, { ...playing, step: 30, playing: false }), true);
  assert.equal(worthSending(playing, { ...playing, query: "?v=1&cell=gru" }), true);
  assert.equal(worthSending({ ...playing, playing: false }, { ...playing, playing: false, step: 4 }), true);
  assert.deepEqual(presenterState({ query: "?v=1", cursor: 0, playing: 0, answerShown: true, enlarged: "" }),
    { query: "?v=1", step: 0, playing: false, lesson_step: 1, enlarged: null });
});

test("a follower takes a setting in place, and reopens the page for another lesson or other compare rows", () => {
  const gru = plan(EMPTY, "?v=1&cell=gru&seq_len=40&view=lag");
  assert.equal(gru.config.cell, "gru");
  assert.equal(gru.config.seq_len, 40);
  assert.deepEqual([gru.lag, gru.reload], [true, false]);
  assert.equal(plan(EMPTY, "?v=1&lesson=vanishing-gradients").reload, true);
  assert.equal(plan(EMPTY, "?v=1&cmp_b=cell:lstm").reload, true);
  assert.equal(plan({ ...EMPTY, lesson: "vanishing-gradients" }, "?v=1&lesson=vanishing-gradients&cell=gru").reload, false);
  // Where the presenter's views stand is taken in place: Show's layer and direction; the step comes in the frame.
  const deep = plan(EMPTY, "?v=1&num_layers=3&show=2,reverse&step=40");
  assert.deepEqual([deep.show, deep.reload], [{ layer: 1, d: 1 }, false]);
  assert.equal(plan(EMPTY, "?v=1").show, null);
  // The presenter's enlarged view is taken in place; its present=1 (type for a projector) is not the follower's.
  const shown = plan(EMPTY, "?v=1&present=1&view=grad-norm");
  assert.deepEqual([shown.view, shown.lag, shown.reload], ["grad-norm", false, false]);
});
