// The cliff page's state: the link (query string) and the request lifecycle, driven by the field table the
// server sends (engine/cliff.py CLIFF_FIELDS).  Pure: no DOM, no fetch, so `node --test` can run it.

/** A field's value from link or input text, as engine.config.Field.parse reads it; throws Error naming the key. */
export function parseValue(field, text) {
  const t = String(text).trim();
  let value;
  if (field.type === "choice") {
    value = t;
    if (!field.choices.includes(value)) throw new Error(`${field.name} must be one of ${field.choices.join(", ")}`);
    return value;
  }
  value = t === "" ? NaN : Number(t);
  const low = field.min_exclusive ? value <= field.min : value < field.min;
  const whole = field.type !== "int" || Number.isInteger(value);
  if (!Number.isFinite(value) || !whole || low || value > field.max) {
    const word = field.type === "int" ? "an integer" : "a number";
    const from = field.min_exclusive ? "greater than" : "from";
    throw new Error(`${field.name} must be ${word} ${from} ${field.min} to ${field.max}; got ${JSON.stringify(t)}`);
  }
  return value;
}

/** A field's value as link text; parseValue(field, formatValue(field, v)) === v. */
export function formatValue(field, value) {
  return field.type === "choice" ? value : String(value);
}

/**
 * The setting a query string asks for: {config, notices}.  A bad or unknown key keeps its default and
 * gets a notice, as the server's page does; `v` and `lesson` belong to the page, not the setting.
 */
export function parseLink(search, fields) {
  const params = new URLSearchParams(search);
  const byName = Object.fromEntries(fields.map((f) => [f.name, f]));
  const config = Object.fromEntries(fields.map((f) => [f.name, f.default]));
  const notices = [];
  for (const [key, text] of params) {
    if (key === "v" || key === "lesson") continue;
    const field = byName[key];
    if (!field) {
      notices.push({ field: key, message: `unknown link key ${JSON.stringify(key)} ignored` });
      continue;
    }
    try {
      config[key] = parseValue(field, text);
    } catch (e) {
      notices.push({ field: key, message: `${e.message}; its default is used` });
    }
  }
  return { config, notices };
}

/** The link's query for `config`: the link version, then only the keys that differ from their defaults. */
export function writeLink(config, fields, linkVersion, extra = {}) {
  const params = new URLSearchParams({ v: String(linkVersion) });
  for (const f of fields) {
    if (config[f.name] !== f.default) params.set(f.name, formatValue(f, config[f.name]));
  }
  for (const [k, v] of Object.entries(extra)) if (v !== undefined && v !== null) params.set(k, v);
  return params.toString();
}

/** The API query of `config`: every key, so that an answer names its question exactly. */
export function queryOf(fields, config) {
  const params = new URLSearchParams();
  for (const f of fields) params.set(f.name, formatValue(f, config[f.name]));
  return params.toString();
}

/**
 * One object owns the setting and its request: idle → computing → shown (or failed).  Every answer is
 * tagged with the query that produced it, so a slow answer to an older setting is never shown under a newer one.
 */
export class CliffState {
  constructor(fields, config, linkVersion) {
    this.fields = fields;
    this.linkVersion = linkVersion;
    this.config = { ...config };
    this.phase = "idle";
    this.shownQuery = null;
    this.error = null;
  }

  /** The API query of the current setting (every key, so an answer names its question exactly). */
  query() {
    return queryOf(this.fields, this.config);
  }

  /** The page's link for the current setting. */
  link(extra = {}) {
    return writeLink(this.config, this.fields, this.linkVersion, extra);
  }

  /** Set one key from text; throws (leaving the setting as it was) when the text is not allowed. */
  set(name, text) {
    const field = this.fields.find((f) => f.name === name);
    if (!field) throw new Error(`unknown key ${JSON.stringify(name)}`);
    this.config = { ...this.config, [name]: parseValue(field, text) };
    return this.config[name];
  }

  /** A request for the current setting starts: returns its tag. */
  start() {
    this.phase = "computing";
    this.error = null;
    return this.query();
  }

  /** An answer arrived for `tag`: true if it is still the current setting's (then it is shown). */
  accept(tag) {
    if (tag !== this.query()) return false;
    this.phase = "shown";
    this.shownQuery = tag;
    return true;
  }

  /** A request for `tag` failed with `message`; ignored if the setting has moved on. */
  fail(tag, message) {
    if (tag !== this.query()) return false;
    this.phase = "failed";
    this.error = message;
    return true;
  }
}
