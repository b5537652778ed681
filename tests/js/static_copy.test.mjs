// A static copy's Copy link: an address that works once the site is served, never the file:/// it was opened from.
import assert from "node:assert/strict";
import { test } from "node:test";

import { gridValues, shareLink } from "../../static/js/static_copy.js";

test("Copy link in a static copy is relative to the site, or under its base address; never file:///", () => {
  const file = new URL("file:///home/me/site/lesson-vanishing.html?v=1&seq_len=100");
  assert.equal(shareLink("?v=1&seq_len=100", file, { recordings: [] }), "lesson-vanishing.html?v=1&seq_len=100");
  assert.equal(shareLink("?v=1", file, { base_url: "https://course.example/rnn" }), "https://course.example/rnn/lesson-vanishing.html?v=1");
  assert.equal(shareLink("?v=1", new URL("http://lab:8000/?cell=gru"), null), "http://lab:8000/?v=1");
});

test("a slider grid's values are written as the slider writes them, both ends included", () => {
  assert.deepEqual(gridValues({ min: 1, max: 1.2, step: 0.05 }), [1, 1.05, 1.1, 1.15, 1.2]);
  assert.deepEqual(gridValues({ min: 0, max: 3, step: 0.75 }), [0, 0.75, 1.5, 2.25, 3]);
  assert.deepEqual(gridValues({ min: 20, max: 100, step: 20 }), [20, 40, 60, 80, 100]);
});
