// A saved trace file's link and messages (static/js/trace_file.js): pure, for node --test.

// Read as the module loads: the page state rewrites the address (its query, without the hash) once it boots.
export const LINKED_HASH = typeof location === "undefined" ? "" : location.hash;

/** The token of a link's `#trace-file=TOKEN`, or null. */
export function openedToken(hash) {
  const m = /^#trace-file=([0-9a-f]{16})$/.exec(hash || "");
  return m ? m[1] : null;
}

/** What a refusal says, with the file's name when the server gave none. */
export function refusalText(body, status, name) {
  const message = body && typeof body.message === "string" ? body.message : `the server answered ${status}`;
  return name && !message.includes(name) ? `${name}: ${message}` : message;
}
