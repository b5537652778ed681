// Compare mode's downloads: every compared setting's numbers in one file.  The CSV is the page's CSV of each trace
// (every layer, direction and step) with the setting in front of each row; the JSON holds each setting's name,
// legend, config and whole trace, and which layer and direction the chart showed.  No DOM: node --test loads it.

import { pickWords } from "./compare_pick.js";

/** A CSV field: quoted when it holds a comma, a quote or a line break. */
export function csvField(text) {
  const s = String(text);
  return /[",\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

/**
 * @param {Array<{name: string, label: string, trace: {toCSV: () => string}}>} rows  complete traces, A first
 */
export function compareCSV(rows) {
  const lines = [];
  for (const row of rows) {
    const [head, ...body] = row.trace.toCSV().trimEnd().split("\n");
    if (!lines.length) lines.push(`setting,label,${head}`);
    const front = `${csvField(row.name)},${csvField(row.label)},`;
    for (const line of body) lines.push(front + line);
  }
  return lines.join("\n") + "\n";
}

/**
 * @param {Array<{name: string, label: string, trace: {config: object, toJSON: () => string}}>} rows
 * @param {{layer: number|null, d: number}} pick  the layer and direction the chart showed
 */
export function compareJSON(rows, pick) {
  return JSON.stringify({
    shown: pickWords(pick),
    settings: rows.map((r) => ({ name: r.name, label: r.label, config: r.trace.config, trace: JSON.parse(r.trace.toJSON()) })),
  });
}
