// One run as it arrives over the socket: typed arrays indexed [t][layer][direction][unit],
// filled by forward frames (t = 0 .. T-1) and backward frames (t = T-1 .. 0).
// With the lag map asked for, one `lag` frame adds the map (lag.js).  Nothing here touches the DOM or Plotly.

import { LagMap, lagJSON } from "./lag.js";

export class RunTrace {
  /**
   * @param {object} start  the run's `start` frame
   * @param {{trained?: boolean}} o  `trained`: the trace of a model after training (a train request's trace)
   */
  constructor(start, { trained = false } = {}) {
    this.run = start.run;
    this.trained = trained;
    this.config = start.config;
    this.start = start;
    this.createdAt = performance.now();
    this.lastFrameAt = this.createdAt;
    const { T, L, D, H } = start.shapes;
    Object.assign(this, { T, L, D, H });
    this.gateNames = start.gates || [];
    this.hasCellState = !!start.has_cell_state;
    this.layout = start.layout || { forward: ["hidden"], backward: ["grad_h"] };
    this.block = L * D * H; // floats per array per timestep
    this.arrays = {}; // name -> Float32Array(T * block)
    for (const name of [...this.layout.forward, ...this.layout.backward]) {
      this.arrays[name] = new Float32Array(T * this.block);
    }
    const LD = L * D;
    this.gradHNorm = new Float64Array(T * LD).fill(NaN); // [t][l*D+d]
    this.gradCNorm = this.hasCellState ? new Float64Array(T * LD).fill(NaN) : null;
    this.bound = new Float64Array(T * LD).fill(NaN); // RNN only: the geometric bound on ‖∂L/∂h_t‖
    this.gateProduct = new Float64Array(T * LD).fill(NaN); // LSTM/GRU: ∏ of mean forget/update gates after t
    this.outputs = new Array(T).fill(null);
    this.forwardCount = 0; // forward frames received
    this.backwardCount = 0; // backward frames received (from t = T-1 down)
    this.done = null; // the `done` frame
    this.forwardOverflowT = null; // first t where some h_t is inf / NaN
    this.theory = start.theory || {};
    this.lag = null; // the LagMap of the run's `lag` frame (asked for with the lag map)
    this.lagError = null; // what did not fit, when a lag frame could not be read
  }

  /** The `lag` frame and its float32 map; one that does not fit the run's shapes is kept as its error instead. */
  addLag(frame, payload) {
    this.lastFrameAt = performance.now();
    try {
      this.lag = new LagMap(frame, payload, this);
      this.lagError = null;
    } catch (e) {
      this.lag = null;
      this.lagError = e.message;
    }
  }

  /**
   * A forward frame, with the float32 payload when the frame says `binary_steps` = n: the arrays of
   * layout.forward for steps t .. t+n-1, (n, K, L, D, H).  Later steps' frames come without one.
   */
  addForward(frame, payload) {
    const t = frame.t;
    this.lastFrameAt = performance.now();
    if (payload) this.store(this.layout.forward, payload, frame.binary_steps, t, +1);
    this.outputs[t] = frame.output ?? null;
    if (this.forwardOverflowT === null) {
      const hidden = this.arrays.hidden;
      for (let i = t * this.block; i < (t + 1) * this.block; i++) {
        if (!Number.isFinite(hidden[i])) {
          this.forwardOverflowT = t;
          break;
        }
      }
    }
    this.forwardCount = Math.max(this.forwardCount, t + 1);
  }

  /**
   * A backward frame: per-(layer, direction) norms in the header; with `binary_steps` = n, the
   * payload holds grad_h for steps t, t-1, .., t-n+1, (n, L, D, H).
   */
  addBackward(frame, payload) {
    const t = frame.t;
    this.lastFrameAt = performance.now();
    const LD = this.L * this.D;
    if (payload) this.store(this.layout.backward, payload, frame.binary_steps, t, -1);
    for (let l = 0; l < this.L; l++) {
      for (let d = 0; d < this.D; d++) {
        const k = t * LD + l * this.D + d;
        this.gradHNorm[k] = toNumber(frame.grad_h_norm?.[l]?.[d]);
        if (this.gradCNorm) this.gradCNorm[k] = toNumber(frame.grad_c_norm?.[l]?.[d]);
        this.bound[k] = toNumber(frame.bound?.[l]?.[d]);
        this.gateProduct[k] = toNumber(frame.gate_product?.[l]?.[d]);
      }
    }
    this.backwardCount = Math.max(this.backwardCount, this.T - t);
  }

  /** Unpack `steps` timesteps of the arrays `names`, step s of the payload going to t + s·dir. */
  store(names, payload, steps, t, dir) {
    const data = new Float32Array(payload);
    for (let s = 0; s < steps; s++) {
      names.forEach((name, i) => {
        const from = (s * names.length + i) * this.block;
        this.arrays[name].set(data.subarray(from, from + this.block), (t + s * dir) * this.block);
      });
    }
  }

  /** Value of array `name` at (t, layer, direction, unit). */
  at(name, t, l, d, h) {
    return this.arrays[name][t * this.block + (l * this.D + d) * this.H + h];
  }

  /** The (H × T) matrix of one layer and direction, as rows of units; columns outside [from, to) are null. */
  unitsByTime(name, l, d, from, to, map = (v) => v) {
    const rows = [];
    const arr = this.arrays[name];
    if (!arr) return rows;
    const off = (l * this.D + d) * this.H;
    for (let h = 0; h < this.H; h++) {
      const row = new Array(this.T).fill(null);
      for (let t = from; t < to; t++) row[t] = map(arr[t * this.block + off + h]);
      rows.push(row);
    }
    return rows;
  }

  /** Norm series of one (layer, direction) over t, entries outside [from, to) null. */
  normSeries(which, l, d, from = 0, to = this.T) {
    const src = { h: this.gradHNorm, c: this.gradCNorm, bound: this.bound, gate_product: this.gateProduct }[which];
    const out = new Array(this.T).fill(null);
    if (!src) return out;
    const LD = this.L * this.D;
    for (let t = from; t < to; t++) out[t] = src[t * LD + l * this.D + d];
    return out;
  }

  /**
   * For one layer and direction, whether backpropagation has reached step t:
   * true once a non-zero state gradient has been seen at t or at a step that
   * backprop visits before t (later t for the forward direction, earlier t for
   * the reverse one).  Zeros where this is false are structural (the loss does
   * not depend on h_t at all), not underflow.
   */
  reached(l, d) {
    const LD = this.L * this.D;
    const out = new Array(this.T).fill(false);
    let seen = false;
    for (let i = 0; i < this.T; i++) {
      const t = d === 0 ? this.T - 1 - i : i;
      const k = t * LD + l * this.D + d;
      const received = t >= this.T - this.backwardCount;
      // NaN !== 0: an overflowed gradient is flowing too.
      if (received && (this.gradHNorm[k] !== 0 || (this.gradCNorm && this.gradCNorm[k] !== 0))) seen = true;
      out[t] = seen;
    }
    return out;
  }

  /** Mean over units of a gate at each t in [from, to). */
  gateMean(gate, l, d, from, to) {
    const out = new Array(this.T).fill(null);
    const arr = this.arrays[gate];
    if (!arr) return out;
    const off = (l * this.D + d) * this.H;
    for (let t = from; t < to; t++) {
      let s = 0;
      for (let h = 0; h < this.H; h++) s += arr[t * this.block + off + h];
      out[t] = s / this.H;
    }
    return out;
  }

  get complete() {
    return this.done !== null;
  }

  /** First t (in backward order) where a gradient norm is inf/NaN, or exactly 0; from `done` when known. */
  extremes() {
    // The server's verdict is final: it knows which zeros are structural (a reverse
    // direction the loss has not reached yet) rather than underflow.
    if (this.done) return { overflow: this.done.overflow_t ?? null, underflow: this.done.underflow_t ?? null };
    // Until then, only overflow can be judged from the norms alone.
    let overflow = null;
    const LD = this.L * this.D;
    for (let t = this.T - 1; t >= this.T - this.backwardCount; t--) {
      for (let k = 0; k < LD; k++) {
        const v = this.gradHNorm[t * LD + k];
        if (overflow === null && !Number.isFinite(v)) overflow = t;
      }
    }
    return { overflow, underflow: null };
  }

  /** Per-timestep norms and outputs as CSV rows: t, layer, direction, grad_h_norm, grad_c_norm, bound. */
  toCSV() {
    const lines = ["t,layer,direction,grad_h_norm,grad_c_norm,bound"];
    for (let t = 0; t < this.T; t++) {
      for (let l = 0; l < this.L; l++) {
        for (let d = 0; d < this.D; d++) {
          const k = t * this.L * this.D + l * this.D + d;
          const c = this.gradCNorm ? fmt(this.gradCNorm[k]) : "";
          lines.push([t, l, d ? "reverse" : "forward", fmt(this.gradHNorm[k]), c, fmt(this.bound[k])].join(","));
        }
      }
    }
    return lines.join("\n") + "\n";
  }

  /** The whole run as JSON (non-finite numbers written as the protocol's strings). */
  toJSON() {
    const nested = (arr) => {
      const out = [];
      for (let l = 0; l < this.L; l++) {
        const dirs = [];
        for (let d = 0; d < this.D; d++) {
          const ts = [];
          for (let t = 0; t < this.T; t++) {
            const off = t * this.block + (l * this.D + d) * this.H;
            ts.push(Array.from(arr.subarray(off, off + this.H), enc));
          }
          dirs.push(ts);
        }
        out.push(dirs);
      }
      return out; // (L, D, T, H)
    };
    const norms = (src) => {
      if (!src) return null;
      const LD = this.L * this.D;
      return Array.from({ length: this.L }, (_, l) => Array.from({ length: this.D }, (_, d) =>
        Array.from({ length: this.T }, (_, t) => enc(src[t * LD + l * this.D + d]))));
    };
    // Per-unit arrays of a big model would make a file of hundreds of MB: past the cap only the norms are written.
    const values = Object.values(this.arrays).reduce((n, a) => n + a.length, 0);
    const arrays = values <= MAX_JSON_VALUES
      ? Object.fromEntries(Object.entries(this.arrays).map(([k, v]) => [k, nested(v)]))
      : { omitted: `${values.toLocaleString("en")} per-unit values; at most ${MAX_JSON_VALUES.toLocaleString("en")} are written` };
    return JSON.stringify({
      config: this.config, shapes: this.start.shapes, gates: this.gateNames, theory: this.theory,
      param_count: this.start.param_count, input_steps: this.start.input_steps, scored_steps: this.start.scored_steps,
      outputs: this.outputs.map((o) => (o ? o.map(enc) : o)),
      grad_h_norm: norms(this.gradHNorm), grad_c_norm: norms(this.gradCNorm), bound: norms(this.bound),
      arrays, lag: this.lag && lagJSON(this.lag), done: this.done && JSON.parse(JSON.stringify(this.done, (_k, v) => (typeof v === "number" ? enc(v) : v))),
    });
  }
}

const MAX_JSON_VALUES = 4_000_000;

function toNumber(v) {
  return v === null || v === undefined ? NaN : Number(v);
}

function enc(v) {
  if (Number.isNaN(v)) return "nan";
  if (v === Infinity) return "inf";
  if (v === -Infinity) return "-inf";
  return v;
}

function fmt(v) {
  return Number.isFinite(v) ? String(v) : String(enc(v));
}
