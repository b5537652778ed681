// Where the page's frames come from.  A frame source has a tiny surface, so that a recorded source (a
// saved session replayed from a file) can stand in for the live socket later:
//
//   source.run(config)    ask for one trace of `config`; a newer request supersedes it
//   source.train(config)  ask for a training of `config`, then the trained model's trace
//   source.stop()         cancel the newest request
//   source.upload(kind, bytes, extra) / source.clearUpload(kind)   the user's own model or series
//   new Source(onFrame, onStatus)
//     onFrame(frame, payload)  one step per forward/backward frame (docs/protocol.md), newest request only
//     onStatus(status)         'connecting' | 'open' | 'closed'
//
// SocketSource is the live one: the /ws websocket of this page's host.

import { TraceSocket } from "./socket.js";

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
    this.socket = new TraceSocket(url, onFrame, onStatus);
  }

  run(config) {
    this.socket.run(config);
  }

  train(config) {
    this.socket.train(config);
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

  /** The newest request's run number (a test hook: the e2e harness reads it). */
  get newest() {
    return this.socket.newest;
  }

  get open() {
    return this.socket.open;
  }
}
