// Where the page's frames come from.  A frame source has a tiny surface, so that a recorded source (a
// saved session replayed from a file) can stand in for the live socket later:
//
//   source.run(config, {lag})    ask for one trace of `config` (`lag`: with the lag map); a newer request
//                                supersedes it
//   source.train(config, {lag})  ask for a training of `config`, then the trained model's trace
//   source.stop()         cancel the newest request
//   source.upload(kind, bytes, extra) / source.clearUpload(kind)   the user's own model or series
//   new Source(onFrame, onStatus)
//     onFrame(frame, payload)  one step per forward/backward frame (docs/protocol.md), newest request only
//     onStatus(status)         'connecting' | 'open' | 'closed'
//
// SocketSource is the live one: the /ws websocket of this page's host, and the runs it received whole kept to
// answer the same setting again (run_cache.js).

import { NeighbourFetch } from "./neighbour_fetch.js";
import { RunCache } from "./run_cache.js";
import { TraceSocket, parseFrame, splitSteps } from "./socket.js";

/** The websocket address of this page's server. */
export function socketUrl(loc = location) {
  return `${loc.protocol === "https:" ? "wss" : "ws"}://${loc.host}/ws`;
}

export class SocketSource {
  /**
   * @param {(frame: object, payload: ArrayBuffer|null) => void} onFrame
   * @param {(status: string) => void} onStatus
   * @param {string} url
   */
  constructor(onFrame, onStatus = () => {}, url = socketUrl()) {
    // Runs received whole answer the same setting again at once (run_cache.js); it numbers the page's runs.
    this.cache = new RunCache(onFrame, { stop: () => this.socket.stop() });
    this.socket = new TraceSocket(url, (frame, payload) => this.cache.receive(frame, payload), onStatus);
    // A held slider's neighbours, once the server has them, brought into that cache (neighbour_fetch.js).
    this.neighbours = new NeighbourFetch(this.cache, (f) => new TraceSocket(url, f));
    this.asked = null; // the prefetch out: {configs, lag}
  }

  run(config, options = {}) {
    if (!this.cache.ask("run", config, options, this.cachable)) this.socket.run(config, options);
  }

  /** A file uploaded makes the answer depend on more than the setting: the cache stays out of it. */
  get cachable() {
    return !Object.keys(this.socket.uploads).length;
  }

  /** Whether a run of `config` would be answered from the page's cache, at once. */
  holds(config, { lag = false } = {}) {
    return this.cachable && this.cache.has(config, lag);
  }

  train(config, options = {}) {
    this.cache.ask("train", config, options);
    this.socket.train(config, options);
  }

  stop() {
    this.socket.stop();
  }

  /** Keep a file on the socket for its runs ('model': a state_dict, 'series': a CSV); see docs/protocol.md. */
  upload(kind, bytes, extra = {}) {
    this.socket.upload(kind, bytes, extra);
  }

  clearUpload(kind) {
    this.socket.clearUpload(kind);
  }

  /** Ask the server to compute `configs` into its cache (docs/protocol.md, "Prefetch"); false when it cannot leave. */
  prefetch(configs, options = {}) {
    const wanted = configs.filter((c) => !this.cache.has(c, options.lag)); // the page holds those already
    if (!wanted.length || !this.socket.prefetch(wanted, options)) return false;
    this.asked = { configs: wanted, lag: !!options.lag };
    return true;
  }

  /** The server's `prefetched` answer: the settings it holds now are brought into the page, if `shown` is small. */
  prefetched(frame, shown) {
    const asked = this.asked;
    this.asked = null;
    if (asked && !frame.busy && frame.ready > 0) {
      this.neighbours.fetch(asked.configs.slice(0, frame.ready), { lag: asked.lag }, shown);
    }
  }

  /** How long a neighbour takes to reach the page once the server has it (ms); 0 when none is brought in. */
  bringInMs(shown, options = {}) {
    return this.neighbours.bringsIn(shown, !!options.lag) ? this.neighbours.msPerRun || 1 : 0;
  }

  /** Neighbours a dragged slider has gone past (`passed(config)`) are not brought into the page. */
  skipNeighbours(passed) {
    this.neighbours.skipWhen(passed);
  }

  /** The newest request's run number, in the page's numbering (a test hook: the e2e harness reads it). */
  get newest() {
    return this.cache.newest;
  }

  get open() {
    return this.socket.open;
  }
}

/** Bytes of a base64 string as an ArrayBuffer (the binary frames of a recording). */
function decodeBase64(text) {
  const raw = atob(text);
  const bytes = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
  return bytes.buffer;
}

/**
 * A static copy's frame source: replays recordings the export made with the server's own encoder, so the
 * page sees exactly the frames a socket would have sent (server/export/).  A training replays at the pace
 * it was recorded (each train_step when its `elapsed_s` comes) times `pace`: 1 by default, 4 four times
 * faster, Infinity all at once; `setPace` changes it, also for the rest of a replay under way.  A trace
 * arrives at once, as from a cache.
 *
 * `recordings`: [{kind: 'run'|'train', config, src, lag}], `src` a classic script that sets
 * `window.GFL_RECORDINGS[src] = [[text, base64|null], ...]` (script tags load from file://, fetch does not).
 * `keyOf(kind, config)` names what decides a result (the page state's trace or training key).  A request
 * outside the recordings is answered with an error frame saying so.  A request for the lag map is answered from
 * the setting's recording, which holds the map when the export recorded it (`lag`); the page says when it does not.
 */
export class RecordedSource {
  constructor(onFrame, onStatus = () => {}, { recordings = [], keyOf, missing = "not in this static copy", pace = 1 } = {}) {
    this.onFrame = onFrame;
    this.keyOf = keyOf;
    this.missing = missing;
    // Two recordings of one result (a try that moves a Train-only key records the same trace again): the first,
    // the page's own, which loads with the page, answers.
    this.byKey = new Map();
    for (const r of recordings) {
      const key = `${r.kind} ${keyOf(r.kind, r.config)}`;
      if (!this.byKey.has(key)) this.byKey.set(key, r.src);
    }
    this.newest = 0;
    this.timer = 0;
    this.pending = []; // the replay's frames still due: {at (recorded seconds), deliver}
    this.clock = { recorded: 0, wall: 0 }; // the recorded time the replay had reached at a wall-clock time
    this.pace = checkPace(pace);
    this.open = true;
    onStatus("open");
  }

  run(config) {
    this.request("run", config);
  }

  train(config) {
    this.request("train", config);
  }

  stop() {
    this.cancel();
    if (this.newest) this.onFrame({ type: "cancelled", run: this.newest }, null);
  }

  /** Replay trainings `pace` times as fast as they were recorded (Infinity: at once), from now on. */
  setPace(pace) {
    this.clock = { recorded: this.recordedNow(), wall: performance.now() };
    this.pace = checkPace(pace);
    if (this.pending.length) this.pump();
  }

  cancel() {
    clearTimeout(this.timer);
    this.timer = 0;
    this.pending = [];
  }

  request(kind, config) {
    this.cancel();
    const run = ++this.newest;
    const src = this.byKey.get(`${kind} ${this.keyOf(kind, config)}`);
    if (!src) {
      this.timer = setTimeout(() => this.onFrame({ type: "error", run, field: null, message: this.missing }, null));
      return;
    }
    loadRecording(src).then(
      (units) => run === this.newest && this.replay(run, units),
      () => run === this.newest && this.onFrame({ type: "error", run, field: null, message: `could not load ${src}` }, null),
    );
  }

  replay(run, units) {
    let at = 0; // seconds after the request that the recorded stream reached this unit
    this.pending = units.map(([text, data]) => {
      const frame = parseFrame(text);
      frame.run = run;
      if (frame.type === "train_step" && Number.isFinite(frame.elapsed_s)) at = Math.max(at, frame.elapsed_s);
      const deliver = () => {
        const payload = data == null ? null : decodeBase64(data);
        if (frame.type === "forward" || frame.type === "backward") {
          for (const [step, p] of splitSteps(frame, payload)) this.onFrame(step, p);
        } else this.onFrame(frame, payload); // a lag frame's map
      };
      return { at, deliver };
    });
    this.clock = { recorded: 0, wall: performance.now() };
    this.pump();
  }

  /** The recorded time the replay has reached by now. */
  recordedNow() {
    if (this.pace === Infinity) return Infinity;
    return this.clock.recorded + ((performance.now() - this.clock.wall) / 1000) * this.pace;
  }

  /** Deliver every frame that is due, and wake up when the next one is. */
  pump() {
    clearTimeout(this.timer);
    this.timer = 0;
    const reached = this.recordedNow();
    // A frame may make the page ask for something else (a newer request empties `pending`): take them one by one.
    while (this.pending.length && this.pending[0].at <= reached) this.pending.shift().deliver();
    if (!this.pending.length) return;
    const wait = ((this.pending[0].at - reached) / this.pace) * 1000;
    this.timer = setTimeout(() => this.pump(), wait);
  }
}

function checkPace(pace) {
  if (!(pace > 0)) throw new RangeError(`pace must be a number above 0 (Infinity: at once); got ${pace}`);
  return pace;
}

const loading = new Map();

/** What recording script `src` filed in `window.GFL_RECORDINGS`, loading the script once. */
export function loadRecording(src) {
  if (!loading.has(src)) {
    loading.set(src, new Promise((resolve, reject) => {
      const done = () => (window.GFL_RECORDINGS?.[src] ? resolve(window.GFL_RECORDINGS[src]) : reject(new Error(src)));
      if (window.GFL_RECORDINGS?.[src]) return done();
      const el = document.createElement("script");
      el.src = src;
      el.onload = done;
      el.onerror = () => reject(new Error(src));
      document.head.append(el);
    }));
  }
  return loading.get(src);
}
