// The control values an uploaded model fixes (its cell and shape: the server's `fixes`), held by the page state:
// while the file is active they are the config's values, so the controls show what every run uses; the link keeps
// the values they replaced, since a file cannot travel in a link, and clearing the file brings those back.
// No DOM (node --test loads it).

export class FileValues {
  /** @param {import('./schema.js').Schema} schema */
  constructor(schema) {
    this.schema = schema;
    this.before = {}; // {key: value} the file replaced
  }

  /** Put the file's `values` (checked against the table) into `config`: returns the keys that changed. */
  take(config, values = {}) {
    const changed = [];
    for (const [k, v] of Object.entries(values || {})) {
      if (!this.schema.has(k) || config[k] === this.schema.check(k, v)) continue;
      if (!(k in this.before)) this.before[k] = config[k];
      config[k] = this.schema.check(k, v);
      changed.push(k);
    }
    return changed;
  }

  /** The file is gone: `config` takes back the values it replaced; returns the keys that changed. */
  release(config) {
    const changed = Object.keys(this.before).filter((k) => config[k] !== this.before[k]);
    Object.assign(config, this.before);
    this.before = {};
    return changed;
  }

  /** The values the link writes for `config`: the page's own, not the file's. */
  linked(config) {
    return { ...config, ...this.before };
  }
}
