// The teaching link: one table of URL properties (the server's FIELDS, as
// described by GET /api/config) drives both reading and writing the query
// string, the way TF Playground's state.ts does.  This module knows nothing
// about the DOM.

export const LINK_VERSION = 1;

// Query keys that are not config fields but are allowed in a link.
const RESERVED = new Set(["v", "lesson", "embed", "hide", "cmp_b", "cmp_c"]);

/** How a link may say true (also the page's own embed=1). */
export const TRUE_WORDS = new Set(["1", "true", "yes", "on"]);
const FALSE_WORDS = new Set(["0", "false", "no", "off"]);

// Mirrors engine.config: the number of cells a trace may hold.
const MAX_TRACE_CELLS = 16_000_000;

export class LinkState {
  /** @param {Array<object>} fields  `[f.describe() for f in FIELDS]` */
  constructor(fields) {
    this.fields = fields;
    this.byName = new Map(fields.map((f) => [f.name, f]));
  }

  defaults() {
    return Object.fromEntries(this.fields.map((f) => [f.name, f.default]));
  }

  /** What a field accepts, in words (matches Field.allowed()). */
  allowed(f) {
    if (f.type === "choice") return "one of " + f.choices.map((c) => `'${c}'`).join(", ");
    if (f.type === "bool") return "true or false";
    const word = f.type === "int" ? "an integer" : "a number";
    return `${word} ${f.min_exclusive ? "greater than" : "from"} ${f.min} to ${f.max}`;
  }

  /** Check and normalise one value; throws Error(message) when not allowed. */
  check(f, value) {
    const bad = () => new Error(`${f.name} must be ${this.allowed(f)}; got ${JSON.stringify(value)}`);
    if (f.type === "choice") {
      if (!f.choices.includes(value)) throw bad();
      return value;
    }
    if (f.type === "bool") {
      if (typeof value !== "boolean") throw bad();
      return value;
    }
    if (typeof value !== "number" || !Number.isFinite(value)) throw bad();
    if (f.type === "int" && !Number.isInteger(value)) throw bad();
    if (value < f.min || value > f.max || (f.min_exclusive && value === f.min)) throw bad();
    return value;
  }

  /** Read one field from URL text ('1', '0.5', 'lstm'). */
  parseValue(f, text) {
    const s = String(text).trim();
    if (f.type === "bool") {
      const low = s.toLowerCase();
      if (TRUE_WORDS.has(low)) return true;
      if (FALSE_WORDS.has(low)) return false;
      return this.check(f, s);
    }
    if (f.type === "int" || f.type === "float") {
      const n = s === "" ? NaN : Number(s);
      return this.check(f, Number.isNaN(n) ? s : n);
    }
    return this.check(f, s);
  }

  /** Write one field for a URL; parseValue(format(v)) === v. */
  formatValue(f, value) {
    if (f.type === "bool") return value ? "1" : "0";
    return String(value);
  }

  /**
   * Read a query string leniently: bad or unknown keys fall back to their
   * defaults and are reported as notices ({field, message}).
   */
  parse(search) {
    const params = new URLSearchParams(search);
    const config = this.defaults();
    const notices = [];
    for (const [key, text] of params) {
      if (RESERVED.has(key)) continue;
      const f = this.byName.get(key);
      if (!f) {
        notices.push({ field: key, message: `unknown key '${key}' ignored` });
        continue;
      }
      try {
        config[key] = this.parseValue(f, text);
      } catch (e) {
        notices.push({ field: key, message: `${e.message}; using the default ${this.formatValue(f, f.default)}` });
      }
    }
    const limit = this.crossKeyProblem(config);
    if (limit) {
      config[limit.field] = this.byName.get(limit.field).default;
      notices.push(limit);
    }
    return { config, notices };
  }

  /** The cross-key limit of engine.config, so a link never asks for a trace the server refuses. */
  crossKeyProblem(c) {
    if (!this.byName.has("batch_size")) return null;
    const T = c.arch === "one-to-one" ? 1 : c.seq_len;
    const cells = T * c.batch_size * c.hidden_size * c.num_layers * (c.bidirectional ? 2 : 1);
    if (cells <= MAX_TRACE_CELLS) return null;
    return {
      field: "batch_size",
      message: `seq_len × batch_size × hidden_size × num_layers × directions is ${cells.toLocaleString("en")}; ` +
        `at most ${MAX_TRACE_CELLS.toLocaleString("en")} is allowed: lower batch_size, seq_len or hidden_size`,
    };
  }

  /**
   * The query string of a teaching link: `v=1` plus every non-default key, in table order,
   * then the page's own keys (lesson, embed, hide, cmp_b, cmp_c) carried over from `keep`.
   */
  toQuery(config, keep = "") {
    const params = new URLSearchParams();
    params.set("v", String(LINK_VERSION));
    for (const f of this.fields) {
      const value = config[f.name];
      if (value === undefined || value === f.default) continue;
      params.set(f.name, this.formatValue(f, value));
    }
    for (const [key, text] of new URLSearchParams(keep)) if (RESERVED.has(key) && key !== "v") params.append(key, text);
    // ":" and "," are legal in a query and keep compare links readable (cmp_b=cell:lstm,clip:norm).
    return "?" + params.toString().replace(/%3A/gi, ":").replace(/%2C/gi, ",");
  }

  /** Only the keys that differ from the defaults: what the socket's run message needs. */
  nonDefault(config) {
    const out = {};
    for (const f of this.fields) if (config[f.name] !== f.default) out[f.name] = config[f.name];
    return out;
  }
}
