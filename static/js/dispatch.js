// One frame dispatcher per frame source: the page's socket, each of compare mode's B and C, a recording in a
// notebook output.  Every frame of the source goes to `accept`; the dispatcher owns the data of what it receives
// (the RunTrace of a trace: start, forward, backward, lag, done; the TrainingRun of a training: train_start,
// train_step, a profiled step's lag, train_done) and then tells its hooks what arrived.  It touches no DOM:
// node --test loads it.
//
// hooks (each optional, called after the data is updated):
//   start(trace, frame)   a trace's start frame: `trace` is new, empty
//   data(trace, frame)    a forward or backward step, the lag map, or a done of a run no longer received
//   done(trace, frame)    the trace is whole
//   trainStart(run, frame), trainStep(run, frame), trainDone(run, frame)
//   trainLag(run, frame)  the lag map of a training's profiled step (a lag frame with `step`)
//   error(frame), cancelled(frame), queued(frame), other(frame, payload)  (other: upload frames and the like)
//   computing(frame)      the server's estimate of a run's computation, before its start frame

import { RunTrace } from "./trace.js";
import { TrainingRun } from "./training_run.js";

export class FrameDispatcher {
  /**
   * @param {object} hooks  see above
   * @param {{trains?: () => boolean}} o  `trains()`: whether training frames are wanted now (not after Stop,
   *   nor from a training the page no longer asked for); a training's steps after that are dropped
   */
  constructor(hooks = {}, { trains = () => true } = {}) {
    this.hooks = hooks;
    this.trains = trains;
    this.trace = null; // the RunTrace of the newest start frame
    this.training = null; // the TrainingRun of the newest train_start taken
    // The run whose training just ended: its trace, which the server sends next, is of the trained model.
    this.trainedRun = null;
  }

  /** A new training is asked for: the one before is no longer shown as this source's. */
  clearTraining() {
    this.training = null;
  }

  /** One frame, with its binary payload (forward and backward frames), as a frame source delivers it. */
  accept(frame, payload = null) {
    const h = this.hooks;
    const t = this.trace;
    const current = !!t && frame.run === t.run;
    const training = this.training && this.training.run === frame.run ? this.training : null;
    switch (frame.type) {
      case "start":
        this.trace = new RunTrace(frame, { trained: this.trainedRun === frame.run });
        this.trainedRun = null;
        return h.start?.(this.trace, frame);
      case "forward":
        if (current) t.addForward(frame, payload);
        return h.data?.(t, frame);
      case "backward":
        if (current) t.addBackward(frame, payload);
        return h.data?.(t, frame);
      case "done":
        if (!current) return h.data?.(t, frame);
        t.done = frame;
        t.doneAt = performance.now();
        return h.done?.(t, frame);
      case "lag":
        if (frame.step == null) {
          if (current) t.addLag(frame, payload);
          return h.data?.(t, frame);
        }
        if (!training || !this.trains()) return undefined;
        training.addLag(frame, payload);
        return h.trainLag?.(training, frame);
      case "train_start":
        if (!this.trains()) return undefined;
        this.training = new TrainingRun(frame);
        return h.trainStart?.(this.training, frame);
      case "train_step":
        if (!training || !this.trains()) return undefined; // steps already on the wire when Stop was pressed
        training.add(frame);
        return h.trainStep?.(training, frame);
      case "train_done":
        training?.finish(frame);
        this.trainedRun = training ? training.run : null;
        return h.trainDone?.(training, frame);
      case "cancelled":
        this.training?.stop();
        return h.cancelled?.(frame);
      case "error":
        return h.error?.(frame);
      case "queued":
        return h.queued?.(frame);
      case "computing":
        return h.computing?.(frame);
      default:
        return h.other?.(frame, payload);
    }
  }
}
