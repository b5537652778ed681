// The upload panel's pure part: which frames answer an upload, and how a loaded file is described.
import assert from "node:assert/strict";
import { test } from "node:test";

import { describeUpload, isUploadFrame, uploadKind } from "../../static/js/upload.js";

test("upload frames are the loaded/cleared frames and run-less errors about a file", () => {
  for (const type of ["model_loaded", "model_cleared", "series_loaded", "series_cleared"]) {
    assert.equal(isUploadFrame({ type, run: null }), true);
  }
  assert.equal(isUploadFrame({ type: "error", run: null, field: "model", message: "x" }), true);
  assert.equal(isUploadFrame({ type: "error", run: null, field: "series", message: "x" }), true);
  // A refusal names its kind: a full server (field bytes) or a seq_len too long for the series is the file's.
  const full = { type: "error", run: null, kind: "series", field: "bytes", message: "x" };
  assert.equal(isUploadFrame(full), true);
  assert.equal(uploadKind(full), "series");
  // A run's own error (a seq_len too long for the series) belongs to the run, not the panel.
  assert.equal(isUploadFrame({ type: "error", run: 3, field: "seq_len", message: "x" }), false);
  assert.equal(isUploadFrame({ type: "error", run: null, field: null, message: "not JSON" }), false);
  assert.equal(isUploadFrame({ type: "start", run: 1 }), false);
});

test("a loaded model and series are described from their frames", () => {
  const model = { type: "model_loaded", cell: "lstm", hidden_size: 8, num_layers: 2, bidirectional: true,
    input_size: 3, prefix: "encoder.rnn" };
  assert.equal(describeUpload(model),
    "Your model: LSTM, H = 8, 2 layer(s), bidirectional, input size 3 (found under encoder.rnn).");
  assert.equal(describeUpload({ ...model, bidirectional: false, prefix: "" }),
    "Your model: LSTM, H = 8, 2 layer(s), input size 3.");
  assert.equal(describeUpload({ type: "series_loaded", name: "price", length: 50 }), "Your series: price, 50 values.");
});
