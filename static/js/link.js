// The page's link: its query string read and written from two tables the server sends, the config table (read
// with the Schema) and the page's own keys (`page_keys` of GET /api/config, or of /api/cliff/config: each key
// with how a link writes it).  Nothing here lists a key.  No DOM: node --test loads this module directly.
//
//   version  v=, the link version: written first, never read into the page
//   lesson   a lesson's id                      flag   yes/no (1/true/yes/on)
//   keys     control names, comma-separated     pairs  key:value pairs of the config table, comma-separated
//   view     the view the page opens on: one of the server's `views` (GET /api/config), else ignored with a notice
//   pick     a layer and a direction: "2,reverse" (layer 2 counted from the bottom, 1-based; 'top': the top layer)
//   step     the player's step, 0 … 2T (the forward sweep, then the backward one): where a paused run stands
//
// A value a key cannot read is ignored whole, with a notice saying what the key takes.

import { TRUE_WORDS } from "./schema.js";

const DIRECTIONS = ["forward", "reverse"];

/**
 * A pick's words read: {layer: 0-based from the bottom, or null for the top layer; d: 0 forward, 1 reverse}; null
 * for no words, undefined when a word is none of a layer number, 'top', 'forward', 'reverse'.
 */
function readPick(text) {
  const pick = { layer: null, d: 0 };
  const words = text.split(",").map((x) => x.trim().toLowerCase()).filter(Boolean);
  if (!words.length) return null; // an empty value says nothing
  for (const w of words) {
    if (DIRECTIONS.includes(w)) pick.d = DIRECTIONS.indexOf(w);
    else if (w === "top") pick.layer = null;
    else if (/^[1-9]\d{0,2}$/.test(w)) pick.layer = Number(w) - 1;
    else return undefined;
  }
  return pick;
}

/** A pick's words: the layer (1 = the bottom one; none or 'top' for the top layer), then 'reverse' if it is. */
function writePick(pick) {
  const layer = pick.layer === null ? (pick.d ? [] : ["top"]) : [String(pick.layer + 1)];
  return [...layer, ...(pick.d ? ["reverse"] : [])].join(",");
}

// How each kind of page key is read from link text and written back (null: left out of the link), and what it
// takes, in words, for the notice when a value cannot be read.
const KINDS = {
  version: { empty: null },
  lesson: { empty: null, read: (s) => s.trim() || null, write: (v) => v },
  flag: { empty: false, read: (s) => TRUE_WORDS.has(s.trim().toLowerCase()), write: (v) => (v ? "1" : null) },
  keys: {
    empty: [], repeats: true,
    read: (s) => s.split(",").map((k) => k.trim()).filter(Boolean), write: (v) => (v.length ? v.join(",") : null),
  },
  pairs: { empty: [] },
  view: {
    empty: null, read: (s, views) => (views.includes(s.trim()) ? s.trim() : undefined), write: (v) => v,
    takes: (views) => (views.length ? `one of ${views.map((v) => `'${v}'`).join(", ")}` : "left out on this page"),
  },
  pick: {
    empty: null, read: readPick, write: writePick,
    takes: () => "a layer number (1 = the bottom layer) or 'top', and 'forward' or 'reverse', comma-separated",
  },
  step: {
    empty: null, read: (s) => (/^\d{1,6}$/.test(s.trim()) ? Number(s) : undefined), write: (v) => String(v),
    takes: () => "a whole number of steps from 0 (the run's start)",
  },
};

/** The page's keys of `kind` ('pairs': compare mode's alternatives), in the server's order. */
export function keysOfKind(pageKeys, kind) {
  return Object.keys(pageKeys).filter((k) => pageKeys[k] === kind);
}

/** The page part of a link that says nothing: each page key at its empty value. */
export function emptyPage(pageKeys) {
  const page = {};
  for (const [key, kind] of Object.entries(pageKeys)) {
    const empty = KINDS[kind].empty;
    if (kind !== "version") page[key] = Array.isArray(empty) ? [] : empty;
  }
  return page;
}

/**
 * Read a query string leniently: bad or unknown keys fall back to their defaults with a notice
 * ({field, message}).  Cross-key rules (the work cap, the cliff's grid edges) are the server's to apply: a page
 * embeds its reading.  `views`: the values a `view` key may take (GET /api/config's `views`).
 */
export function parseLink(schema, pageKeys, search, views = []) {
  const params = new URLSearchParams(search);
  const config = schema.defaults();
  const page = emptyPage(pageKeys);
  const notices = [];
  for (const [key, text] of params) {
    const kind = pageKeys[key];
    if (kind === "version") continue;
    if (kind === "pairs") {
      const { pairs, problems } = schema.parsePairs(text);
      page[key] = pairs;
      for (const p of problems) notices.push({ field: key, message: `compare (${key}): ${p}; ignored` });
    } else if (kind) {
      const value = KINDS[kind].read(text, views);
      if (value === undefined) {
        const takes = KINDS[kind].takes(views);
        notices.push({ field: key, message: `${key} must be ${takes}; got ${JSON.stringify(text.slice(0, 40))}; ignored` });
      } else page[key] = KINDS[kind].repeats ? [...page[key], ...value] : value;
    } else if (!schema.has(key)) {
      notices.push({ field: key, message: `unknown key '${key}' ignored` });
    } else {
      try {
        config[key] = schema.parseValue(key, text);
      } catch (e) {
        notices.push({ field: key, message: `${e.message}; using the default ${schema.formatValue(key, schema.field(key).default)}` });
      }
    }
  }
  return { config, page, notices };
}

/** The query of a link: `v=`, every applicable non-default key in table order, then the page's keys. */
export function formatLink(schema, pageKeys, config, page = {}) {
  const params = new URLSearchParams();
  params.set("v", String(schema.linkVersion));
  const c = schema.applicableOnly(config);
  for (const f of schema.fields) if (c[f.name] !== undefined && c[f.name] !== f.default) params.set(f.name, schema.formatValue(f.name, c[f.name]));
  for (const [key, kind] of Object.entries(pageKeys)) {
    const v = page[key];
    if (kind === "version" || v === undefined || v === null) continue;
    const text = kind === "pairs" ? (v.length ? schema.formatPairs(v) : null) : KINDS[kind].write(v);
    if (text !== null && text !== "") params.set(key, text);
  }
  // ":" and "," are legal in a query and keep compare links readable (cmp_b=cell:lstm,clip:norm).
  return "?" + params.toString().replace(/%3A/gi, ":").replace(/%2C/gi, ",");
}

/** Every key of `config` in table order, as an API's query writes a setting (so an answer names its question). */
export function settingQuery(schema, config) {
  return new URLSearchParams(schema.fields.map((f) => [f.name, schema.formatValue(f.name, config[f.name])])).toString();
}

/**
 * The page's link written into the address bar (`history.replaceState`): at once, but during a slide (`how`
 * 'slide') once the slider has rested for `restMs` (each write costs the drag's frame a few milliseconds, and the
 * browser throttles a flood of them); any other write, or the slide's end, writes the newest link at once.
 */
export function addressBar(history, restMs = 200, timers = globalThis) {
  let timer = 0;
  let due = null;
  const write = () => {
    timers.clearTimeout(timer);
    timer = 0;
    if (due !== null) history.replaceState(null, "", due);
    due = null;
  };
  return (query, how = "commit") => {
    due = query;
    if (how !== "slide") return write();
    timers.clearTimeout(timer);
    timer = timers.setTimeout(write, restMs);
  };
}
