// The saved trace file's pure parts: which link opens a file the server opened, and what a refusal says.
import assert from "node:assert/strict";
import { test } from "node:test";

import { openedToken, refusalText } from "../../static/js/trace_file_text.js";

test("a link opens the server's file only by a 16-hex-digit token in its hash", () => {
  assert.equal(openedToken("#trace-file=0123456789abcdef"), "0123456789abcdef");
  for (const hash of ["", "#trace-file=", "#trace-file=0123456789ABCDEF", "#trace-file=0123456789abcdef0",
    "#trace-file=../../etc/passwd", "#view=lag"]) assert.equal(openedToken(hash), null, hash);
});

test("a refusal names the file once, and says the status when the server gave no message", () => {
  assert.equal(refusalText({ message: "'a.gfltrace': the trace file is not usable: …" }, 422, "a.gfltrace"),
    "'a.gfltrace': the trace file is not usable: …");
  assert.equal(refusalText({ message: "the trace file is over 16 bytes" }, 413, "b.gfltrace"),
    "b.gfltrace: the trace file is over 16 bytes");
  assert.equal(refusalText(null, 502, ""), "the server answered 502");
});
