// The websocket client (/ws, see docs/protocol.md).  It pairs each forward/backward
// message (several steps) with the binary frame that follows it and hands the page one step at
// a time (`splitSteps`), and a `lag` frame with its binary frame (the lag map) whole; it turns the
// wire's "inf"/"-inf"/"nan" strings back into numbers, and
// drops frames of runs that a newer request has superseded: every run/train message takes the
// socket's next run number, so the newest request's number is simply the count of those
// messages sent.
//
// Uploads across a reconnect (docs/protocol.md, "Reconnecting with an upload"): the socket keeps each file
// and the token the server gave for it.  A new socket sends the token, not the file, and the file only when
// the server answers `upload_expired` (or gave no token); run requests wait until every upload is back, so
// no trace is computed without it in between.  A file the server refused is never sent again: the file
// before it (accepted, with its token) stays the one to restore.  A file whose socket closed twice before it
// was answered is not sent a third time either: the page says it was not used.

const NON_FINITE = { inf: Infinity, "-inf": -Infinity, nan: NaN, Infinity: Infinity, "-Infinity": -Infinity, NaN: NaN };

const STEP_SERIES = ["grad_h_norm", "grad_c_norm", "grad_out_norm", "bound", "gate_product"];
// Text frames that one binary frame follows.
const WITH_BINARY = new Set(["forward", "backward", "lag"]);

/** A request's message: `lag` adds the lag map (only said when asked, as the protocol's default is without). */
export function requestMessage(type, config, { lag = false } = {}) {
  return lag ? { type, config, lag: true } : { type, config };
}

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
    this.pending = null; // the latest run/train message asked for before the socket opened (or uploads were back)
    // kind -> {bytes, extra, token, accepted, previous, attempts}: the files this page uses, to restore on a new
    // socket; `previous` is the accepted upload a file not yet answered would replace.
    this.uploads = {};
    this.restoring = new Set(); // kinds sent to a new socket and not answered yet: requests wait for them
    this.retry = 0;
    this.connect();
  }

  connect() {
    this.onStatus("connecting");
    const ws = new WebSocket(this.url);
    ws.binaryType = "arraybuffer";
    ws.onopen = () => {
      this.retry = 0;
      // A new socket has none of the old one's files: their tokens (or the files) go before any request.
      for (const [kind, kept] of Object.entries(this.uploads)) {
        if (!kept.accepted && kept.attempts >= 2) {
          this.forget(kind);
          this.deliver({ type: "error", run: null, kind, field: kind, message: `the connection closed twice ` +
            `while the server was reading the ${kind} file, so it was not sent again` }, null);
          if (!this.uploads[kind]) continue;
        }
        this.restoring.add(kind);
        if (this.uploads[kind].token) this.ws.send(JSON.stringify({ type: kind, token: this.uploads[kind].token }));
        else this.sendFile(kind);
      }
      this.onStatus("open");
      this.flush();
    };
    ws.onmessage = (ev) => this.receive(ev.data);
    ws.onclose = () => {
      this.ws = null;
      for (const kept of Object.values(this.uploads)) if (!kept.accepted) kept.attempts += 1;
      this.restoring.clear();
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
    if (!this.open || this.restoring.size) {
      // Only the latest request matters once the socket opens; a stop cancels the one waiting.
      this.pending = message.type === "stop" ? null : message;
      return;
    }
    if (message.type === "run" || message.type === "train") this.newest += 1;
    this.ws.send(JSON.stringify(message));
  }

  /** Ask for a trace of `config` (`{lag}`: with the lag map); a newer request supersedes this one. */
  run(config, options = {}) {
    this.send(requestMessage("run", config, options));
  }

  train(config, options = {}) {
    this.send(requestMessage("train", config, options));
  }

  stop() {
    this.send({ type: "stop" });
  }

  /**
   * A prefetch (no run number, never queued: a neighbour asked for while the socket is down is not worth asking for
   * later); true when it left.
   */
  prefetch(configs, { lag = false } = {}) {
    if (!this.open || this.restoring.size) return false;
    this.ws.send(JSON.stringify(lag ? { type: "prefetch", configs, lag: true } : { type: "prefetch", configs }));
    return true;
  }

  /** The request that waited for the socket or its uploads, once neither is in the way. */
  flush() {
    if (!this.open || this.restoring.size || !this.pending) return;
    const message = this.pending;
    this.pending = null;
    this.send(message);
  }

  /** Send a file the socket keeps (kind 'model' or 'series'): its announcement, then one binary frame. */
  upload(kind, bytes, extra = {}) {
    const kept = this.uploads[kind];
    const previous = kept && kept.accepted ? kept : kept ? kept.previous : null;
    this.uploads[kind] = { bytes, extra, token: null, accepted: false, previous, attempts: 0 };
    if (this.open) this.sendFile(kind); // else sent when the socket opens
  }

  /** The file of `kind` not yet answered is dropped: the accepted one it would have replaced stays, or none. */
  forget(kind) {
    const kept = this.uploads[kind];
    if (kept && kept.previous) this.uploads[kind] = kept.previous;
    else delete this.uploads[kind];
  }

  /** The server refused the file of `kind` (an error frame about it): it is never sent again. */
  uploadRefused(kind) {
    const kept = this.uploads[kind];
    if (kept && (this.restoring.has(kind) || !kept.accepted)) {
      // A file restored to a new socket and refused there (the server changed) is dropped with its token.
      if (this.restoring.has(kind)) delete this.uploads[kind];
      else this.forget(kind);
    }
    this.restoring.delete(kind);
    this.flush();
  }

  sendFile(kind) {
    const { bytes, extra } = this.uploads[kind];
    this.ws.send(JSON.stringify({ type: kind, bytes: bytes.byteLength, ...extra }));
    this.ws.send(bytes);
  }

  clearUpload(kind) {
    delete this.uploads[kind];
    this.restoring.delete(kind);
    if (this.open) this.ws.send(JSON.stringify({ type: `clear_${kind}` }));
    this.flush();
  }

  /** Keep what an upload frame says about the file (its token), answer `upload_expired` with the file. */
  uploadAnswered(frame) {
    const kind = frame.type === "upload_expired" ? frame.kind : frame.type.replace(/_loaded$/, "");
    const kept = this.uploads[kind];
    if (frame.type === "upload_expired") {
      if (kept && this.open) this.sendFile(kind);
      return;
    }
    if (kept && frame.type.endsWith("_loaded")) Object.assign(kept, { token: frame.token ?? null, accepted: true,
      previous: null });
    this.restoring.delete(kind);
    this.flush();
  }

  receive(data) {
    if (typeof data !== "string") {
      const header = this.header;
      this.header = null;
      if (header && header.type === "lag") this.deliver(header, data);
      else if (header) for (const [step, payload] of splitSteps(header, data)) this.deliver(step, payload);
      return;
    }
    const frame = parseFrame(data);
    if (WITH_BINARY.has(frame.type)) {
      this.header = frame;
      return;
    }
    if (frame.type === "model_loaded" || frame.type === "series_loaded" || frame.type === "upload_expired") {
      this.uploadAnswered(frame);
    } else if (frame.type === "error" && frame.run == null && this.restoring.size && frame.field === "token") {
      // A token the server would not read (it gave it, so it cannot be, unless the server changed): the files.
      for (const kind of this.restoring) this.sendFile(kind);
    } else if (frame.type === "error" && frame.run == null && (frame.kind || this.restoring.size)) {
      this.uploadRefused(frame.kind || (frame.field === "series" || frame.field === "column" ? "series" : "model"));
    }
    this.deliver(frame, null);
  }

  deliver(frame, payload) {
    // Frames of any other request are stale; errors with no run number answer a malformed message.
    if (frame.run != null && frame.run !== this.newest) return;
    this.onFrame(frame, payload);
  }
}
