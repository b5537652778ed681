// The socket across a reconnect: it sends the upload's token, not the file; the file only when the server
// has forgotten it; and run requests wait until every upload is back.
import assert from "node:assert/strict";
import { test } from "node:test";

class FakeWebSocket {
  static OPEN = 1;
  static made = [];
  constructor(url) {
    this.url = url;
    this.readyState = 0;
    this.sent = [];
    FakeWebSocket.made.push(this);
  }
  send(data) {
    this.sent.push(data);
  }
  opened() {
    this.readyState = FakeWebSocket.OPEN;
    this.onopen();
  }
  closed() {
    this.readyState = 3;
    this.onclose();
  }
  says(frame) {
    this.onmessage({ data: JSON.stringify(frame) });
  }
}
globalThis.WebSocket = FakeWebSocket;
const timers = [];
globalThis.setTimeout = (fn) => timers.push(fn); // the reconnect delay: run by hand below
const { TraceSocket } = await import("../../static/js/socket.js");

const texts = (ws) => ws.sent.filter((d) => typeof d === "string").map((d) => JSON.parse(d));
const binaries = (ws) => ws.sent.filter((d) => typeof d !== "string");

test("a reconnect resumes by token, holds the run until the upload is back, and re-sends only when expired", () => {
  const got = [];
  const socket = new TraceSocket("ws://x/ws", (f) => got.push(f));
  const first = FakeWebSocket.made.at(-1);
  first.opened();
  const file = new Uint8Array([1, 2, 3]).buffer;
  socket.upload("series", file, { column: "price" });
  assert.deepEqual(texts(first), [{ type: "series", bytes: 3, column: "price" }]);
  assert.equal(binaries(first).length, 1);
  first.says({ type: "series_loaded", run: null, sha256: "bb", token: "tok", resumed: false });
  assert.equal(got.at(-1).type, "series_loaded", "the page sees the frame too");

  first.closed();
  timers.shift()();
  const second = FakeWebSocket.made.at(-1);
  assert.notEqual(second, first);
  second.opened();
  socket.run({ cell: "gru" });
  assert.deepEqual(texts(second), [{ type: "series", token: "tok" }], "the token, not the file; the run waits");
  assert.equal(binaries(second).length, 0);
  second.says({ type: "series_loaded", run: null, sha256: "bb", token: "tok", resumed: true });
  assert.deepEqual(texts(second).at(-1), { type: "run", config: { cell: "gru" } });
  assert.equal(socket.newest, 1);

  second.closed();
  timers.shift()();
  const third = FakeWebSocket.made.at(-1);
  third.opened();
  socket.run({ cell: "lstm" });
  third.says({ type: "upload_expired", kind: "series", run: null });
  assert.deepEqual(texts(third), [{ type: "series", token: "tok" }, { type: "series", bytes: 3, column: "price" }]);
  assert.equal(binaries(third).length, 1, "the file goes again, once");
  assert.equal(texts(third).filter((m) => m.type === "run").length, 0, "still waiting for the file's answer");
  third.says({ type: "series_loaded", run: null, sha256: "bb", token: "new", resumed: false });
  assert.deepEqual(texts(third).at(-1), { type: "run", config: { cell: "lstm" } });

  socket.clearUpload("series");
  third.closed();
  timers.shift()();
  const fourth = FakeWebSocket.made.at(-1);
  fourth.opened();
  socket.run({ cell: "rnn" });
  assert.deepEqual(texts(fourth), [{ type: "run", config: { cell: "rnn" } }], "a cleared upload is not restored");
});

test("a file sent to a new socket and refused there stops the wait; a token error sends the file", () => {
  const socket = new TraceSocket("ws://x/ws", () => {});
  const first = FakeWebSocket.made.at(-1);
  first.opened();
  socket.upload("model", new Uint8Array([9, 9]).buffer, { nonlinearity: "tanh" });
  first.says({ type: "model_loaded", run: null, sha256: "aa", token: "tok", resumed: false });
  first.closed();
  timers.shift()();
  const second = FakeWebSocket.made.at(-1);
  second.opened();
  socket.run({ cell: "gru" });
  second.says({ type: "error", run: null, field: "token", message: "token must be ..." });
  assert.deepEqual(texts(second).at(-1), { type: "model", bytes: 2, nonlinearity: "tanh" });
  second.says({ type: "error", run: null, field: "model", message: "the file is too large" });
  assert.deepEqual(texts(second).at(-1), { type: "run", config: { cell: "gru" } }, "the run goes, without the model");
  assert.deepEqual(Object.keys(socket.uploads), []);
});

test("a refused file is never sent again: a reconnect restores the accepted file before it, by its token", () => {
  const got = [];
  const socket = new TraceSocket("ws://x/ws", (f) => got.push(f));
  const first = FakeWebSocket.made.at(-1);
  first.opened();
  socket.upload("series", new Uint8Array([1]).buffer);
  first.says({ type: "series_loaded", run: null, sha256: "ok", token: "good", resumed: false });
  socket.upload("series", new Uint8Array([6, 6, 6]).buffer); // a file the server refuses
  first.says({ type: "error", run: null, kind: "series", field: "series", message: "row 3 has a cell over 256" });
  assert.equal(got.filter((f) => f.type === "error").length, 1);
  first.closed();
  timers.shift()();
  const second = FakeWebSocket.made.at(-1);
  second.opened();
  assert.deepEqual(texts(second), [{ type: "series", token: "good" }], "the accepted file's token, not the refused file");
  assert.equal(binaries(second).length, 0);

  socket.upload("model", new Uint8Array([7]).buffer); // no model before it: a refusal leaves none
  second.says({ type: "error", run: null, kind: "model", field: "model", message: "data.pkl nests too deep" });
  second.closed();
  timers.shift()();
  const third = FakeWebSocket.made.at(-1);
  third.opened();
  assert.equal(texts(third).filter((m) => m.type === "model").length, 0, "the refused model is not re-sent");
  assert.equal(got.filter((f) => f.type === "error").length, 2, "each refusal was shown once");
});

test("a file whose socket closes twice before it is answered is not sent a third time, and the page is told", () => {
  const got = [];
  const socket = new TraceSocket("ws://x/ws", (f) => got.push(f));
  let ws = FakeWebSocket.made.at(-1);
  ws.opened();
  socket.upload("model", new Uint8Array([1, 2]).buffer);
  for (let drop = 0; drop < 2; drop++) {
    ws.closed(); // no answer: the server dropped the connection while reading the file
    timers.shift()();
    ws = FakeWebSocket.made.at(-1);
    ws.opened();
  }
  assert.equal(binaries(ws).length, 0, "not sent a third time");
  assert.deepEqual(Object.keys(socket.uploads), []);
  const told = got.at(-1);
  assert.equal(told.type, "error");
  assert.equal(told.kind, "model");
  assert.match(told.message, /closed twice/);
});
