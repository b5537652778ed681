// "Copy as PyTorch": what a refusal says, in the lab's own words when it gave them.
import assert from "node:assert/strict";
import { test } from "node:test";

import { refusalText, scriptUrl } from "../../static/js/script_button.js";

test("a refusal is the lab's message, else the status and the start of the answer, tags and all cut away", () => {
  assert.equal(refusalText(422, '{"message": "cell must be one of rnn", "field": "cell"}'), "cell must be one of rnn");
  assert.equal(refusalText(502, "<html><body><h1>502 Bad Gateway</h1></body></html>"), "the server answered 502: 502 Bad Gateway");
  assert.equal(refusalText(503, ""), "the server answered 503");
  assert.equal(refusalText(400, '{"detail": "x"}'), 'the server answered 400: {"detail": "x"}');
  const long = refusalText(500, "x".repeat(5000));
  assert.ok(long.length < 200 && long.endsWith("…"), long);
});

test("the script's address carries the page's query", () => {
  assert.equal(scriptUrl("?cell=lstm"), "/api/script?cell=lstm");
  assert.equal(scriptUrl(""), "/api/script");
});
