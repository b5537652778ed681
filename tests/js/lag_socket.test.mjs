// The `lag` frame on its way in: the socket reads the binary frame that follows a `lag` text as the map and hands
// both on whole, a request says "lag": true only when it asks for the map, and a recording replays the frame with
// its map as the socket would.
import assert from "node:assert/strict";
import { test } from "node:test";

class FakeWebSocket {
  static OPEN = 1;
  static made = [];
  constructor() {
    this.readyState = 0;
    this.sent = [];
    FakeWebSocket.made.push(this);
  }
  send(data) {
    this.sent.push(data);
  }
}
globalThis.WebSocket = FakeWebSocket;
globalThis.window = globalThis;
const { TraceSocket, requestMessage } = await import("../../static/js/socket.js");
const { RecordedSource } = await import("../../static/js/frames.js");

const map = new Float32Array([0.5, 1, 0.25, 2]).buffer;

test("a run or train asks for the map with \"lag\": true only when it wants it", () => {
  assert.deepEqual(requestMessage("run", { cell: "rnn" }), { type: "run", config: { cell: "rnn" } });
  assert.deepEqual(requestMessage("train", { cell: "rnn" }, { lag: true }), { type: "train", config: { cell: "rnn" }, lag: true });
  const socket = new TraceSocket("ws://x/ws", () => {});
  const ws = FakeWebSocket.made.at(-1);
  ws.readyState = FakeWebSocket.OPEN;
  ws.onopen();
  socket.run({ cell: "gru" }, { lag: true });
  socket.run({ cell: "gru" });
  assert.deepEqual(ws.sent.map((d) => JSON.parse(d)), [
    { type: "run", config: { cell: "gru" }, lag: true }, { type: "run", config: { cell: "gru" } },
  ]);
  assert.equal(socket.newest, 2);
});

test("the socket hands on a lag frame with the binary frame after it, whole, and drops a superseded run's", () => {
  const got = [];
  const socket = new TraceSocket("ws://x/ws", (f, p) => got.push([f, p]));
  const ws = FakeWebSocket.made.at(-1);
  ws.readyState = FakeWebSocket.OPEN;
  ws.onopen();
  socket.run({}, { lag: true });
  ws.onmessage({ data: JSON.stringify({ type: "lag", run: 1, output_steps: [0, 1], rows: 2, lag_curve: [[[1, "nan"]]] }) });
  ws.onmessage({ data: map });
  assert.equal(got.length, 1);
  const [frame, payload] = got[0];
  assert.deepEqual(frame.output_steps, [0, 1]);
  assert.ok(Number.isNaN(frame.lag_curve[0][0][1]), "the wire's \"nan\" is a number again");
  assert.equal(payload, map, "the map's bytes as they came");
  socket.run({}, { lag: true });
  ws.onmessage({ data: JSON.stringify({ type: "lag", run: 1, output_steps: [0], rows: 1, lag_curve: [] }) });
  ws.onmessage({ data: map });
  ws.onmessage({ data: JSON.stringify({ type: "done", run: 2 }) });
  assert.deepEqual(got.slice(1).map(([f, p]) => [f.type, p]), [["done", null]], "run 1's map, and its binary frame, dropped");
});

test("a recording replays a lag frame with its map", async () => {
  window.GFL_RECORDINGS = { "data/run-lag.js": [
    ['{"type":"start","shapes":{"T":2}}', null],
    ['{"type":"lag","output_steps":[0,1],"rows":2,"lag_curve":[[[1,"nan"]]]}', Buffer.from(map).toString("base64")],
    ['{"type":"done","loss":0.5}', null],
  ] };
  const got = [];
  const recordings = [{ kind: "run", config: {}, src: "data/run-lag.js", lag: true }];
  const src = new RecordedSource((f, p) => got.push([f, p]), () => {}, { recordings, keyOf: () => "k" });
  src.run({}, { lag: true });
  await new Promise((r) => setTimeout(r, 0));
  assert.deepEqual(got.map(([f]) => `${f.type}:${f.run}`), ["start:1", "lag:1", "done:1"]);
  assert.deepEqual(Array.from(new Float32Array(got[1][1])), [0.5, 1, 0.25, 2]);
});
