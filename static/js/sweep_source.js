// The sweep page's connection: one socket to /ws that sends sweep requests and hands on the frames of the newest
// (docs/protocol.md, "Sweeps").  The socket numbers every request it answers, so the k-th sweep sent is run k and
// the frames of an older run, already on the wire when a newer one was asked, are dropped here.

import { parseFrame } from "./socket.js";

export class SweepSource {
  /**
   * @param {(frame: object) => void} onFrame  sweep_start, sweep_point, sweep_done or error frames of the newest run
   * @param {string} url  ws:// or wss:// address of /ws
   */
  constructor(onFrame, url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`) {
    this.onFrame = onFrame;
    this.url = url;
    this.sent = 0;
    this.socket = null;
    this.pending = null;
    this.running = false; // a sweep was sent and has not ended
  }

  /** Ask for `body` (a sweep, POST /api/sweep's body); a newer call supersedes it. */
  run(body) {
    this.pending = JSON.stringify({ type: "sweep", sweep: body });
    if (!this.socket || this.socket.readyState > WebSocket.OPEN) this.open();
    else if (this.socket.readyState === WebSocket.OPEN) this.flush();
  }

  open() {
    const socket = (this.socket = new WebSocket(this.url));
    this.sent = 0; // a new socket numbers its runs from 1 again
    socket.addEventListener("open", () => this.flush());
    socket.addEventListener("message", (e) => {
      if (typeof e.data !== "string") return;
      const frame = parseFrame(e.data);
      if (frame.run !== this.sent) return;
      if (frame.type === "sweep_done" || frame.type === "error") this.running = false;
      this.onFrame(frame);
    });
    socket.addEventListener("close", () => {
      if (this.socket === socket && this.running) {
        this.running = false;
        this.onFrame({ type: "error", run: this.sent, field: null, message: "the connection to the server closed" });
      }
    });
  }

  flush() {
    if (this.pending === null) return;
    this.socket.send(this.pending);
    this.pending = null;
    this.sent += 1;
    this.running = true;
  }
}

/**
 * A static copy's stand-in (python -m server.export): the lesson's own sweep, recorded as the socket streamed it,
 * replayed one frame per animation frame so the curves grow as they do live.  `recording` is the copy's
 * {src}; its rows ([text, null]) are in window.GFL_RECORDINGS[src], loaded with the page.
 */
export class RecordedSweep {
  constructor(onFrame, recording) {
    this.onFrame = onFrame;
    this.src = recording.src;
    this.sent = 0;
  }

  run() {
    const run = ++this.sent;
    const rows = (window.GFL_RECORDINGS || {})[this.src];
    if (!rows) {
      this.onFrame({ type: "error", run, field: null, message: "this copy's recording of the sweep did not load" });
      return;
    }
    const next = (i) => {
      if (run !== this.sent || i >= rows.length) return;
      this.onFrame({ ...parseFrame(rows[i][0]), run });
      requestAnimationFrame(() => next(i + 1));
    };
    next(0);
  }
}
