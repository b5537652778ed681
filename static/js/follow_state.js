// What a room carries and how a follower's page takes it, without the DOM (node --test loads it).  A follow
// frame's state is settings only (docs/protocol.md, "Rooms"): the presenter's link query, the playback step and
// whether it plays, the lesson step (0: the question, 1: the answer open) and the enlarged view's id.

import { parseLink } from "./link.js";

/** The room id a follow link carries in its fragment (`#follow=ID`), or null. */
export function roomOfHash(hash) {
  const id = new URLSearchParams(String(hash || "").replace(/^#/, "")).get("follow");
  return id && /^[A-Za-z0-9_-]{16,64}$/.test(id) ? id : null;
}

/** The follow link of room `id` on the page at `origin`. */
export function followLink(origin, id) {
  return `${origin}/#follow=${id}`;
}

/** The state a presenter's page sends, from what it shows. */
export function presenterState({ query, cursor, playing, answerShown, enlarged }) {
  return { query, step: cursor, playing: !!playing, lesson_step: answerShown ? 1 : 0, enlarged: enlarged || null };
}

/**
 * Whether `next` is worth a frame after `sent`: any change, except the step of a run that plays on both sides
 * (the followers play it themselves, so a playing presenter sends one frame, not sixty a second).
 */
export function worthSending(sent, next) {
  if (!sent) return true;
  for (const key of Object.keys(next)) {
    if (key === "step" && next.playing && sent.playing) continue;
    if (sent[key] !== next[key]) return true;
  }
  return false;
}

// Page keys a follower takes in place (the view on show, Show's layer and direction, the step, which the frame's
// own `step` says, paused or playing) or keeps its own of (present: the presenter's large type and folded settings
// are for the projector, not for each student's screen).  Any other page key shapes the page, which then reloads.
const IN_PLACE = new Set(["v", "view", "present", "show", "step"]);

/**
 * What a follower's page does with a frame's `state`: the setting (`config`), the view the page is on (`view`;
 * `lag`: whether that is the lag map), Show's layer and direction (`show`, a pick or null), and `reload`: the link's
 * page keys (the lesson, compare's rows, embed, hide) differ from the page's own, so the page opens the presenter's
 * link instead (those keys shape the page, not just its values).  `views`: the views a link's `view` may open
 * (GET /api/config's `views`).
 */
export function followerPlan(schema, pageKeys, page, state, views) {
  const { config, page: wanted } = parseLink(schema, pageKeys, state.query, views);
  const reload = Object.keys(pageKeys).some((key) => !IN_PLACE.has(key)
    && JSON.stringify(wanted[key]) !== JSON.stringify(page[key]));
  return { config, view: wanted.view ?? null, lag: wanted.view === "lag", show: wanted.show ?? null, reload };
}
