// Where the cliff page's answers come from: GET /api/cliff on the page's server, or, in a static copy of
// the lessons (python -m server.export), the recordings the export made of that same response.  Both give
// the page the same document for the same setting, so the page draws it with the same code.
//
//   source.get(query, signal) -> Promise<{ok, body}>   `query` the API query of one setting (every key)
//
// A static copy sets window.GFL_STATIC = {recordings: [{config, src}], live_url}; `src` is a classic script
// that files the /api/cliff document in window.GFL_RECORDINGS[src] (scripts load from file://, fetch does not).

import { loadRecording } from "./frames.js";

/** The live source: this page's server. */
export class ApiCliffSource {
  async get(query, signal) {
    const r = await fetch("/api/cliff?" + query, { signal });
    return { ok: r.ok, body: await r.json() };
  }
}

/**
 * A static copy's source.  `queryOf(config)` is the page's own API query of a recorded setting, so a setting
 * is found by exactly the text the page asks with; any other setting is answered with `missing`.
 */
export class RecordedCliffSource {
  constructor(recordings, queryOf, missing) {
    this.bySetting = new Map(recordings.map((r) => [queryOf(r.config), r.src]));
    this.missing = missing;
  }

  async get(query) {
    const src = this.bySetting.get(query);
    if (!src) return { ok: false, body: { field: null, message: this.missing } };
    try {
      return { ok: true, body: await loadRecording(src) };
    } catch {
      return { ok: false, body: { field: null, message: `could not load ${src}` } };
    }
  }
}
