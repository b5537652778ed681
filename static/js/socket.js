// The websocket client (/ws, see docs/protocol.md).  It pairs each forward/backward
// message (several steps) with the binary frame that follows it and hands the page one step at
// a time (`splitSteps`), turns the wire's "inf"/"-inf"/"nan" strings back into numbers, and
// drops frames of runs that a newer request has superseded: every run/train message takes the
// socket's next run number, so the newest request's number is simply the count of those
// messages sent.

const NON_FINITE = { inf: Infinity, "-inf": -Infinity, nan: NaN, Infinity: Infinity, "-Infinity": -Infinity, NaN: NaN };

const STEP_SERIES = ["grad_h_norm", "grad_c_norm", "grad_out_norm", "bound", "gate_product"];

/**
 * A forward/backward message of `steps` = n steps as n one-step frames, in send order (forward
 * t, t+1, ..; backward t, t-1, ..).  The first carries `binary_steps: n` and the whole payload, which
 * holds the n steps' arrays; the others have none.  One-step frames have `output` (forward) or one
 * (L, D) table per series (backward, null where the series is).
 */
export function splitSteps(frame, payload) {
  const n = frame.steps;
  const out = [];
  for (let s = 0; s < n; s++) {
    const step = { type: frame.type, run: frame.run };
    if (frame.type === "forward") {
      step.t = frame.t + s;
      step.output = frame.output ? frame.output[s] : null;
    } else {
      step.t = frame.t - s;
      for (const k of STEP_SERIES) step[k] = frame[k] == null ? null : frame[k][s];
    }
    if (s === 0) step.binary_steps = n;
    out.push([step, s === 0 ? payload : null]);
  }
  return out;
}

/** JSON.parse with the protocol's encoding of non-finite numbers undone. */
export function parseFrame(text) {
  return JSON.parse(text, (_key, value) =>
    typeof value === "string" && Object.hasOwn(NON_FINITE, value) ? NON_FINITE[value] : value);
}

export class TraceSocket {
  /**
   * @param {string} url  ws:// address of /ws
   * @param {(frame: object, payload: ArrayBuffer|null) => void} onFrame  frames of the newest request only
   * @param {(status: string) => void} onStatus  'connecting' | 'open' | 'closed'
   */
  constructor(url, onFrame, onStatus = () => {}) {
    this.url = url;
    this.onFrame = onFrame;
    this.onStatus = onStatus;
    this.ws = null;
    this.header = null; // forward/backward message waiting for its binary payload
    this.newest = 0; // run number of the newest run/train request sent on this socket
    this.pending = null; // the latest run/train message asked for before the socket opened
    this.retry = 0;
    this.connect();
  }

  connect() {
    this.onStatus("connecting");
    const ws = new WebSocket(this.url);
    ws.binaryType = "arraybuffer";
    ws.onopen = () => {
      this.retry = 0;
      // A new socket has none of the old one's files: send them again before any request.
      for (const [kind, { bytes, extra }] of Object.entries(this.uploads || {})) this.upload(kind, bytes, extra);
      this.onStatus("open");
      if (this.pending) this.send(this.pending);
      this.pending = null;
    };
    ws.onmessage = (ev) => this.receive(ev.data);
    ws.onclose = () => {
      this.ws = null;
      this.header = null;
      this.newest = 0; // a new socket numbers its runs from 1 again
      this.onStatus("closed");
      const delay = Math.min(5000, 250 * 2 ** this.retry++);
      setTimeout(() => this.connect(), delay);
    };
    this.ws = ws;
  }

  get open() {
    return !!this.ws && this.ws.readyState === WebSocket.OPEN;
  }

  send(message) {
    if (!this.open) {
      // Only the latest request matters once the socket opens; a stop cancels the one waiting.
      this.pending = message.type === "stop" ? null : message;
      return;
    }
    if (message.type === "run" || message.type === "train") this.newest += 1;
    this.ws.send(JSON.stringify(message));
  }

  /** Ask for a trace of `config`; a newer request supersedes this one. */
  run(config) {
    this.send({ type: "run", config });
  }

  train(config) {
    this.send({ type: "train", config });
  }

  stop() {
    this.send({ type: "stop" });
  }

  /** Send a file the socket keeps (kind 'model' or 'series'): its announcement, then one binary frame. */
  upload(kind, bytes, extra = {}) {
    this.uploads = { ...(this.uploads || {}), [kind]: { bytes, extra } };
    if (!this.open) return; // sent when the socket opens
    this.ws.send(JSON.stringify({ type: kind, bytes: bytes.byteLength, ...extra }));
    this.ws.send(bytes);
  }

  clearUpload(kind) {
    if (this.uploads) delete this.uploads[kind];
    if (this.open) this.ws.send(JSON.stringify({ type: `clear_${kind}` }));
  }

  receive(data) {
    if (typeof data !== "string") {
      const header = this.header;
      this.header = null;
      if (header) for (const [step, payload] of splitSteps(header, data)) this.deliver(step, payload);
      return;
    }
    const frame = parseFrame(data);
    if (frame.type === "forward" || frame.type === "backward") {
      this.header = frame;
      return;
    }
    this.deliver(frame, null);
  }

  deliver(frame, payload) {
    // Frames of any other request are stale; errors with no run number answer a malformed message.
    if (frame.run != null && frame.run !== this.newest) return;
    this.onFrame(frame, payload);
  }
}
