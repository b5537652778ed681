// The config table as the server describes it (GET /api/config, or the boot JSON the page embeds from
// the same engine.config.space.FIELDS): one entry per key with its type, bounds, label, when it applies and what
// it affects.  Everything the page knows about a key comes from here; nothing in static/js lists keys.
// No DOM access: node --test loads this module directly.

/** How a link may say true or false (engine.config.space.Field.parse reads the same words). */
export const TRUE_WORDS = new Set(["1", "true", "yes", "on"]);
const FALSE_WORDS = new Set(["0", "false", "no", "off"]);

export class Schema {
  /**
   * @param {Array<object>} fields  `[f.describe() for f in FIELDS]`
   * @param {number} linkVersion  engine.config.space.LINK_VERSION, written as `v=` in a link
   */
  constructor(fields, linkVersion = 1) {
    this.fields = fields;
    this.linkVersion = linkVersion;
    this.byName = new Map(fields.map((f) => [f.name, f]));
  }

  has(name) {
    return this.byName.has(name);
  }

  field(name) {
    const f = this.byName.get(name);
    if (!f) throw new Error(`unknown config key '${name}'`);
    return f;
  }

  defaults() {
    return Object.fromEntries(this.fields.map((f) => [f.name, f.default]));
  }

  label(name) {
    const f = this.byName.get(name);
    return (f && f.label) || name.replaceAll("_", " ");
  }

  /** A choice's display name ("vanilla RNN"), else the value as written. */
  choiceLabel(name, value) {
    const f = this.byName.get(name);
    return f?.choice_labels?.[value] ?? String(value);
  }

  /** Whether key `name` matters for `config` (engine.config.space.Field.applies_to). */
  applies(name, config) {
    const f = this.field(name);
    const ok = Object.entries(f.applies || {}).every(([k, vs]) => vs.includes(config[k]));
    return ok && !Object.entries(f.not_applies || {}).some(([k, vs]) => vs.includes(config[k]));
  }

  /** `config` with every key that does not apply reset to its default: what a link needs to say. */
  applicableOnly(config) {
    const out = { ...config };
    for (const f of this.fields) if (!this.applies(f.name, config)) out[f.name] = f.default;
    return out;
  }

  /** Keys whose change `what` ('weights' | 'data' | 'trace' | 'training') follows. */
  keysAffecting(what) {
    return this.fields.filter((f) => (f.affects || ["trace"]).includes(what)).map((f) => f.name);
  }

  /** Whether a change of `name` needs no new trace (it matters only to Train). */
  trainingOnly(name) {
    const affects = this.field(name).affects || ["trace"];
    return affects.length === 1 && affects[0] === "training";
  }

  /**
   * A string that is equal for two configs exactly when they give the same result of `what`:
   * 'trace' (the views) or 'training' (everything Train uses, i.e. every applicable key).
   */
  settingKey(config, what = "trace") {
    const c = this.applicableOnly(config);
    const keys = what === "trace" ? this.fields.filter((f) => !this.trainingOnly(f.name)) : this.fields;
    return JSON.stringify(keys.map((f) => c[f.name]));
  }

  /**
   * The keys where `a` differs from `b`, with `a`'s values, in words: "Clipping = by total norm, Clip
   * threshold = 0.5".  Keys that do not apply to `a` are left out; `what` 'trace' leaves out Train's keys.
   */
  differences(a, b, what = "training") {
    const ca = this.applicableOnly(a);
    const cb = this.applicableOnly(b);
    return this.fields
      .filter((f) => (what === "training" || !this.trainingOnly(f.name)) && this.applies(f.name, a) && ca[f.name] !== cb[f.name])
      .map((f) => `${this.label(f.name)} = ${this.valueText(f.name, ca[f.name])}`)
      .join(", ");
  }

  /** A value in words: "vanilla RNN", "on", "0.5". */
  valueText(name, value) {
    if (typeof value === "boolean") return value ? "on" : "off";
    return this.choiceLabel(name, value);
  }

  /** A value in a legend, in the table's labels: "LSTM", "Clipping by total norm", "Sequence length T 30". */
  legendText(name, value) {
    const text = this.valueText(name, value);
    return this.byName.get(name)?.self_named ? text : `${this.label(name)} ${text}`;
  }

  /** What a field accepts, in words (matches Field.allowed()). */
  allowed(f) {
    if (f.type === "choice") return "one of " + f.choices.map((c) => `'${c}'`).join(", ");
    if (f.type === "bool") return "true or false";
    const word = f.type === "int" ? "an integer" : "a number";
    return `${word} ${f.min_exclusive ? "greater than" : "from"} ${f.min} to ${f.max}`;
  }

  /** Check and normalise one value of key `name`; throws Error(message naming the key and the range). */
  check(name, value) {
    const f = this.field(name);
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

  /** Read one value of key `name` from text ('1', '0.5', 'lstm'); throws as check() does. */
  parseValue(name, text) {
    const f = this.field(name);
    const s = String(text).trim();
    if (f.type === "bool") {
      const low = s.toLowerCase();
      if (TRUE_WORDS.has(low)) return true;
      if (FALSE_WORDS.has(low)) return false;
      return this.check(name, s);
    }
    if (f.type === "int" || f.type === "float") {
      const n = s === "" ? NaN : Number(s);
      return this.check(name, Number.isNaN(n) ? s : n);
    }
    return this.check(name, s);
  }

  /** Write one value for a link; parseValue(formatValue(v)) === v. */
  formatValue(name, value) {
    return this.field(name).type === "bool" ? (value ? "1" : "0") : String(value);
  }

  /** Read "key:value,key:value" (compare mode's alternatives); later pairs of the same key win. */
  parsePairs(text) {
    const pairs = new Map();
    const problems = [];
    for (const part of String(text).split(",")) {
      if (!part.trim()) continue;
      const at = part.indexOf(":");
      const key = (at < 0 ? part : part.slice(0, at)).trim();
      if (at < 0) problems.push(`'${part}' is not key:value`);
      else if (!this.has(key)) problems.push(`unknown key '${key}'`);
      else {
        try {
          pairs.set(key, this.parseValue(key, part.slice(at + 1)));
        } catch (e) {
          problems.push(e.message);
        }
      }
    }
    return { pairs: [...pairs], problems };
  }

  /** Write pairs for the link; parsePairs(formatPairs(p)).pairs equals p. */
  formatPairs(pairs) {
    return pairs.map(([k, v]) => `${k}:${this.formatValue(k, v)}`).join(",");
  }
}
