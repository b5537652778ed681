// A training's outcome: no better than its baseline unless its recent losses are below the baseline's.
import assert from "node:assert/strict";
import { test } from "node:test";

import { notBetter, recentLoss } from "../../static/js/outcome.js";

test("the recent loss is the mean of the last tenth of the steps, at least one", () => {
  assert.deepEqual(recentLoss([5, 4, 3]), { steps: 1, mean: 3 });
  const losses = Array.from({ length: 40 }, (_, i) => (i < 36 ? 10 : 1 + (i - 36)));
  assert.deepEqual(recentLoss(losses), { steps: 4, mean: 2.5 });
  assert.ok(Number.isNaN(recentLoss([]).mean));
});

test("a loss not below the baseline's, or not a number, is no better; without a baseline nothing is judged", () => {
  const base = { name: "repeat the last value seen", loss: 0.0531 };
  assert.equal(notBetter(0.0549, base), true);
  assert.equal(notBetter(0.0531, base), true);
  assert.equal(notBetter(0.02, base), false);
  assert.equal(notBetter(NaN, base), true);
  assert.equal(notBetter(0.0549, null), false);
});
