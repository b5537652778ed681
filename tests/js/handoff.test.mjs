import assert from "node:assert/strict";
import { test } from "node:test";

import { handoffMarks } from "../../static/js/handoff.js";

test("an encoder-decoder run gets one line labelled handoff between the encoder's last step and the decoder's first", () => {
  const { shapes, annotations } = handoffMarks({ handoff: 5 });
  assert.equal(shapes.length, 1);
  assert.equal(shapes[0].name, "handoff");
  assert.equal(shapes[0].x0, 4.5);
  assert.equal(shapes[0].x1, 4.5);
  assert.equal(annotations[0].text, "handoff");
});

test("the other architectures get no marker", () => {
  assert.deepEqual(handoffMarks({ handoff: null }), { shapes: [], annotations: [] });
  assert.deepEqual(handoffMarks({}), { shapes: [], annotations: [] });
  assert.deepEqual(handoffMarks(undefined), { shapes: [], annotations: [] });
});
