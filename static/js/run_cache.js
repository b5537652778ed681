// Runs the page has received whole, kept so that a setting asked for again (a drag passing back over a value, a
// slider let go where it started) is shown at once from the very frames the server sent for it, with no round trip.
// The numbers shown are the server's own: a replay hands the page the same frames, only under a new run number.
//
// The page's run numbers are kept here, one per run or train asked for, whether the socket or the cache answers
// it: the server numbers runs by the messages it receives, and a replay sends none.  The socket's frames are
// renumbered to the page's number of the newest request sent; once a replay supersedes that request, its frames
// are dropped.  Bounded by a byte budget, least recently used first out.  Only run requests are kept (a training
// is not a function of its setting alone to the page: it can be stopped), and only while no file is uploaded.

/** Bytes of runs kept: fifteen runs of an LSTM at T = 1000, two layers, bidirectional (4.1 MB each), 1600 default ones. */
export const BUDGET_BYTES = 64 * 2 ** 20;
// What a frame's text costs beside its payload, roughly (its parsed object).
const FRAME_BYTES = 256;
// Frames that make up a run's answer; `computing` and `queued` say how the server was doing at the time.
const KEPT = new Set(["start", "forward", "backward", "lag", "done"]);
// Frames after which a request has nothing more to say.
const ENDS = new Set(["done", "error", "cancelled"]);

/** The cache's key for a request: the whole setting and whether the lag map was asked for. */
export function runKey(config, lag = false) {
  return JSON.stringify([Object.entries(config).sort(([a], [b]) => (a < b ? -1 : 1)), !!lag]);
}

/** One run's frames as they arrive, to be kept whole. */
export class Recording {
  constructor(key) {
    this.key = key;
    this.frames = []; // [[frame, payload]]
    this.bytes = 0;
  }

  /** Take a frame of the run; true once the run is whole (its done, after its start). */
  add(frame, payload) {
    if (!KEPT.has(frame.type)) return false;
    if (frame.type === "start") [this.frames, this.bytes] = [[], 0]; // the run begins (again, on a new socket)
    this.frames.push([{ ...frame }, payload]);
    this.bytes += FRAME_BYTES + (payload ? payload.byteLength : 0);
    return frame.type === "done" && this.frames[0][0].type === "start";
  }
}

export class RunCache {
  /**
   * @param {(frame: object, payload: ArrayBuffer|null) => void} onFrame  the page's frames, in its run numbers
   * @param {{stop?: () => void, budget?: number, later?: (fn: () => void) => void}} o  `stop` cancels the socket's
   *   request in flight, which a replay supersedes as a newer request would; `later` runs a replay after the
   *   caller's task
   */
  constructor(onFrame, { stop = () => {}, budget = BUDGET_BYTES, later = (fn) => setTimeout(fn) } = {}) {
    this.onFrame = onFrame;
    this.stop = stop;
    this.budget = budget;
    this.later = later;
    this.runs = new Map(); // key -> {frames: [[frame, payload]], bytes}, least recently used first
    this.bytes = 0;
    this.newest = 0; // the page's run number of the newest request
    this.live = null; // the page's number of the socket's newest request; null once a replay superseded it
    this.recording = null; // {key, frames, bytes} of the live request, when it may be kept
    this.awaiting = false; // the socket's request is not answered whole yet (no done, error or cancelled)
    this.replays = 0; // requests answered from the cache
  }

  /**
   * A request is asked for: `kind` 'run' or 'train'; `cachable` false keeps the cache out of it (a file uploaded).
   * Returns true when the cache answers it (its frames follow, after the caller's task); false when the caller must
   * send it to the socket.
   */
  ask(kind, config, { lag = false } = {}, cachable = true) {
    const run = ++this.newest;
    const key = kind === "run" && cachable ? runKey(config, lag) : null;
    const kept = key && this.runs.get(key);
    if (kept) {
      this.runs.delete(key); // most recently used: to the end
      this.runs.set(key, kept);
      this.live = null;
      this.recording = null;
      this.replays += 1;
      if (this.awaiting) this.stop();
      this.awaiting = false;
      this.later(() => {
        for (const [frame, payload] of kept.frames) {
          if (run !== this.newest) return; // superseded meanwhile, or by a frame of this replay
          this.onFrame({ ...frame, run }, payload);
        }
      });
      return true;
    }
    this.live = run;
    this.awaiting = true;
    this.recording = key && new Recording(key);
    return false;
  }

  /** A frame from the socket (of its newest request, or of none: `run` null), handed on in the page's numbers. */
  receive(frame, payload) {
    if (frame.run == null) return this.onFrame(frame, payload);
    if (this.live === null) return undefined; // a replay superseded the socket's request
    frame.run = this.live;
    if (ENDS.has(frame.type)) this.awaiting = false;
    this.record(frame, payload);
    return this.onFrame(frame, payload);
  }

  record(frame, payload) {
    const rec = this.recording;
    if (!rec) return;
    const whole = rec.add(frame, payload);
    if (ENDS.has(frame.type)) this.recording = null;
    if (whole) this.keep(rec);
  }

  /** Keep a whole run (a Recording), the most recently used; the least recently used go while over the budget. */
  keep({ key, frames, bytes }) {
    if (bytes > this.budget) return;
    const old = this.runs.get(key);
    if (old) this.bytes -= old.bytes;
    this.runs.delete(key);
    this.runs.set(key, { frames, bytes });
    this.bytes += bytes;
    for (const [k, r] of this.runs) {
      if (this.bytes <= this.budget) break;
      this.runs.delete(k);
      this.bytes -= r.bytes;
    }
  }

  /** The bytes the run of `config` is counted as, or 0 when it is not kept. */
  sizeOf(config, lag = false) {
    return this.runs.get(runKey(config, lag))?.bytes || 0;
  }

  /** Whether the run of `config` is kept (the prefetcher need not ask the server for it). */
  has(config, lag = false) {
    return this.runs.has(runKey(config, lag));
  }
}
