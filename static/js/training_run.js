// One training as it arrives over the socket: the train_start frame, then each train_step's numbers
// collected into parallel arrays, then train_done.  The training's counterpart of trace.js's RunTrace;
// nothing here touches the DOM or Plotly.  A training asked with the lag map also brings the map at each profiled
// step (a `lag` frame with its `step`).

import { LagMap } from "./lag.js";

// The most lag maps a training keeps: past it every second one of the older half goes (the first and the newest
// stay), so a long training of a large setting holds tens of MB, not hundreds.
export const MAX_LAG_MAPS = 128;

/** One training request's steps as they arrive: parallel arrays, index i is step step[i]. */
export class TrainingRun {
  /** @param {object} start  the train_start frame */
  constructor(start) {
    this.start = start;
    this.run = start.run;
    this.config = start.config;
    this.total = start.steps;
    this.baseline = start.baseline || null;
    this.classification = !!start.classification;
    this.clip = start.clip;
    this.clipAt = start.clip_at;
    this.shapes = start.shapes; // {L, D, T}: a profile's shape, T its time axis (2T for the encoder-decoder)
    this.step = [];
    this.loss = [];
    this.gradNorm = [];
    this.gradClipped = [];
    this.clipped = [];
    this.metric = [];
    this.clippedCount = 0;
    this.profileSteps = []; // steps that carried a profile
    this.profiles = []; // each (L, D, T) ‖∂L/∂h_t‖
    this.lagMaps = []; // LagMap of the profiled steps, ascending by .step, when the training was asked with the map
    this.lagError = null;
    this.alignment = null; // the newest profiled step's alignment (T, T), a model with attention only
    this.alignmentStep = null;
    this.last = null; // the newest train_step frame
    this.done = null; // the train_done frame
    this.divergedAt = null;
    this.stopped = false;
  }

  /** A train_step frame. */
  add(frame) {
    this.step.push(frame.step);
    this.loss.push(frame.loss);
    this.gradNorm.push(frame.grad_norm);
    this.gradClipped.push(frame.grad_norm_clipped);
    this.clipped.push(!!frame.clipped);
    this.metric.push(frame.metric ?? null);
    if (frame.clipped) this.clippedCount += 1;
    if (frame.profile) {
      this.profileSteps.push(frame.step);
      this.profiles.push(frame.profile);
    }
    if (frame.alignment) {
      this.alignment = frame.alignment;
      this.alignmentStep = frame.step;
    }
    this.last = frame;
  }

  /** A `lag` frame of a profiled step (its `step`), with its float32 map. */
  addLag(frame, payload) {
    try {
      this.lagMaps.push(new LagMap(frame, payload, this.shapes));
    } catch (e) {
      this.lagError = `step ${frame.step}: ${e.message}`;
      return;
    }
    if (this.lagMaps.length > MAX_LAG_MAPS) {
      const half = Math.floor(this.lagMaps.length / 2);
      this.lagMaps = this.lagMaps.filter((_, i) => i === 0 || i >= half || i % 2 === 0);
    }
  }

  /** The run ended before its last step (Stop, a setting moved, the server cancelled it). */
  stop() {
    if (!this.done) this.stopped = true;
  }

  finish(frame) {
    this.done = frame;
    this.divergedAt = frame.diverged_at ?? null;
  }

  get steps() {
    return this.step.length;
  }
}
