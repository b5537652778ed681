// The computing status's words: where a computation stands against the server's estimate.
import assert from "node:assert/strict";
import { test } from "node:test";

import { formatSeconds, progressOf, secondsText } from "../../static/js/progress.js";

test("a computation within its estimate has a fraction and the time left; past it, only that it goes on", () => {
  assert.deepEqual(progressOf(1, 4), { fraction: 0.25, left: "about 3.0 s left" });
  assert.deepEqual(progressOf(0, 90), { fraction: 0, left: "about 1 min 30 s left" });
  assert.deepEqual(progressOf(5, 4), { fraction: null, left: "longer than the 4.0 s estimated; still computing" });
  // No estimate (a queue, a server that sends none): the bar only says that work goes on.
  assert.deepEqual(progressOf(1, undefined), { fraction: null, left: "" });
  assert.deepEqual(progressOf(1, 0), { fraction: null, left: "" });
});

test("seconds are rounded up, with tenths under ten seconds", () => {
  assert.equal(secondsText(0.01), "0.1 s");
  assert.equal(secondsText(2.61), "2.7 s");
  assert.equal(secondsText(9.96), "10 s");
  assert.equal(secondsText(119.6), "2 min 0 s");
  assert.equal(formatSeconds(2.61), "3 s");
  assert.equal(secondsText(NaN), "–");
});
