// What every page does first: read the boot JSON its template embeds (the table the server describes, as its
// API says it, and the server's reading of the link), set up the notices, and say so when the start fails.

import { addDismiss, showNotices } from "./panels.js";

/** The boot JSON of `#gfl-boot`; the table from `api` (the page's table route) when a copy of the page has none. */
export async function loadBoot(api) {
  const el = document.getElementById("gfl-boot");
  const boot = el ? JSON.parse(el.textContent || "{}") : {};
  if (!Array.isArray(boot.fields) || !boot.fields.length) Object.assign(boot, await (await fetch(api)).json());
  return boot;
}

/**
 * The notices of `el`: those the server rendered get the same dismiss button as the page's own, the link's
 * notices the page read itself are shown; returns `notify(list, source)`, which shows a batch of the page's own.
 */
export function noticeBoard(el, linkNotices = []) {
  const notify = (list, source) => showNotices(el, list, source);
  for (const p of el.querySelectorAll(".notice")) addDismiss(p);
  notify(linkNotices.map((n) => ({ ...n, message: `Link: ${n.message}` })), "page-link");
  return notify;
}

/** Run a page's `main`; a failure is shown in its notices, then thrown for the console. */
export function startPage(main) {
  main().catch((e) => {
    const el = document.getElementById("notices");
    if (el) showNotices(el, [{ field: null, message: `The page failed to start: ${e.message}` }], "error");
    throw e;
  });
}

/** On a narrow screen a page's settings (`fold`, a <details>) start folded, so the views come first. */
export function foldOnNarrowScreens(fold) {
  if (fold && window.matchMedia("(max-width: 820px)").matches) fold.open = false;
}
