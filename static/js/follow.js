// The room on the page (docs/protocol.md, "Rooms").  A presenter's page opens a room (POST /api/rooms), shows
// its follow link (#follow-link) and sends what it shows, settings only, over /rooms/ws; only it holds the
// room's secret (in this tab's sessionStorage, so a reload keeps presenting).  A page opened from a follow link
// (`#follow=ID`) joins as a follower: it takes each frame's setting as a link would (its own trace request, which
// the server's single-flight cache answers), then the step, the lesson step and the enlarged view.  Using the
// page's controls or its player steps away from the room; one click on Rejoin takes the presenter's newest state again.

import { followLink, followerPlan, presenterState, roomOfHash, worthSending } from "./follow_state.js";

const ROOM_KEY = "gfl-room"; // sessionStorage: {room, secret} of the room this tab presents
const RETRY_MS = 1000; // a dropped room socket is opened again after this long
const PLAYER_KEYS = new Set([" ", "ArrowLeft", "ArrowRight", "Home", "End"]);
const followed = roomOfHash(location.hash); // read before the page state rewrites the address

/** Whether the page was opened from a follow link (it joins the room as a follower). */
export const following = () => followed !== null;

function roomSocket(onFrame, join) {
  const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/rooms/ws`;
  const link = { ws: null, closed: false, send: (m) => link.ws?.readyState === 1 && link.ws.send(JSON.stringify(m)) };
  const open = () => {
    const ws = (link.ws = new WebSocket(url));
    ws.onopen = () => ws.send(JSON.stringify(join));
    ws.onmessage = (e) => onFrame(JSON.parse(e.data));
    ws.onclose = () => !link.closed && setTimeout(open, RETRY_MS);
  };
  open();
  link.close = () => ((link.closed = true), link.ws.close());
  return link;
}

/** The enlarged view's id: the views' element marked `enlarged`, if any. */
const enlargedView = (doc) => doc.querySelector("main .enlarged[id]")?.id || null;

/**
 * Bind the room bar (templates/room_bar.html).  `o`: the page `state`, the `player`, the `lesson` panel and
 * `trace()` (the run on show).  Returns the presenter or follower, or null on a page that is neither yet.
 */
export function bindRoom(doc, o) {
  const bar = doc.getElementById("room-bar");
  if (!bar) return null;
  if (followed) return new FollowerRoom(doc, bar, followed, o);
  const start = doc.getElementById("start-room");
  const presenter = new PresenterRoom(doc, bar, o);
  const kept = JSON.parse(sessionStorage.getItem(ROOM_KEY) || "null");
  if (kept) presenter.open(kept);
  start.addEventListener("click", () => presenter.create());
  return presenter;
}

class PresenterRoom {
  constructor(doc, bar, { state, player, lesson }) {
    Object.assign(this, { doc, bar, state, player, lesson, sent: null, link: null, due: false });
    state.listen(() => this.soon());
    window.addEventListener("gfl:painted", () => this.soon());
    const answer = doc.getElementById("lesson-answer");
    if (answer) new MutationObserver(() => this.soon()).observe(answer, { attributes: true });
    new MutationObserver(() => this.soon()).observe(doc.querySelector("main"), { attributeFilter: ["class"], subtree: true });
  }

  async create() {
    const r = await fetch("/api/rooms", { method: "POST" });
    const body = await r.json();
    if (!r.ok) return this.say(`No room: ${body.message}`);
    this.open({ room: body.room, secret: body.secret });
  }

  open({ room, secret }) {
    sessionStorage.setItem(ROOM_KEY, JSON.stringify({ room, secret }));
    const a = this.doc.getElementById("follow-link");
    a.href = followLink(location.origin, room);
    a.textContent = a.href;
    this.doc.getElementById("room-presenting").hidden = false;
    this.doc.getElementById("start-room").hidden = true;
    this.link = roomSocket((f) => this.frame(f), { type: "join", room, secret });
    this.sent = null;
    this.soon();
  }

  frame(f) {
    if (f.type === "joined") {
      this.sent = null; // (re)joined: the room gets the state now
      this.soon();
    }
    if (f.type === "error" && (f.field === "room" || f.field === "secret")) {
      sessionStorage.removeItem(ROOM_KEY);
      this.link.close();
      this.doc.getElementById("room-presenting").hidden = true;
      this.doc.getElementById("start-room").hidden = false;
      this.say(`The room closed: ${f.message}`);
    }
  }

  /** One frame per task at most: a burst of changes (a drag, a paint) sends its end. */
  soon() {
    if (!this.link || this.due) return;
    this.due = true;
    queueMicrotask(() => {
      this.due = false;
      const next = presenterState({ query: this.state.query, cursor: this.player.cursor, playing: this.player.playing,
        answerShown: this.lesson.answer ? !this.lesson.answer.hidden : false, enlarged: enlargedView(this.doc) });
      if (!worthSending(this.sent, next) || this.link.ws?.readyState !== 1) return;
      this.sent = next;
      this.link.send({ type: "set", state: next });
    });
  }

  say(text) {
    this.doc.getElementById("room-status").textContent = text;
  }
}

class FollowerRoom {
  constructor(doc, bar, room, { state, player, lesson, trace }) {
    Object.assign(this, { doc, bar, room, state, player, lesson, trace, latest: null, attached: true, want: null,
      applying: false });
    this.status = doc.getElementById("room-status");
    this.rejoinButton = doc.getElementById("follow-rejoin");
    this.views = JSON.parse(doc.getElementById("gfl-boot")?.textContent || "{}").views || [];
    doc.getElementById("start-room").hidden = true;
    bar.classList.add("following");
    this.keepHash();
    state.listen(() => this.keepHash());
    this.rejoinButton.addEventListener("click", () => this.rejoin());
    window.addEventListener("gfl:painted", () => this.settle());
    // Stepping away: a setting changed by anything but a frame, or the player driven by its own bar or keys.
    // (The player writes the link's step itself: its own use is read from its bar and keys.)
    const moved = (change) => change.type === "values" || (change.type === "page" && change.key !== "step");
    state.listen((change) => !this.applying && moved(change) && this.stepAway());
    const away = (e) => e.isTrusted && !bar.contains(e.target) && this.stepAway();
    doc.addEventListener("pointerdown", (e) => e.target.closest?.("#player") && away(e), true);
    doc.addEventListener("keydown", (e) => PLAYER_KEYS.has(e.key) && !e.target.closest?.("input, select") && away(e), true);
    this.link = roomSocket((f) => this.frame(f), { type: "join", room });
    this.say("Following the presenter: waiting for the room");
  }

  /** The follow link's fragment stays on the address: a reload follows the room again. */
  keepHash() {
    if (location.hash !== `#follow=${this.room}`) history.replaceState(null, "", `${location.search}#follow=${this.room}`);
  }

  frame(f) {
    if (f.type === "follow") {
      this.latest = f;
      if (this.attached) this.apply(f);
    } else if (f.type === "closed" || (f.type === "error" && f.field === "room")) {
      this.link.close();
      this.say(f.type === "closed" ? "The room has closed." : `No room to follow: ${f.message}`);
    }
  }

  apply(f) {
    const plan = followerPlan(this.state.schema, this.state.pageKeys, this.state.page, f.state, this.views);
    if (plan.reload) return location.replace(`${location.pathname}${f.state.query}#follow=${this.room}`);
    this.want = f;
    this.applying = true; // the frame's own changes are not a step away
    try {
      this.state.set(plan.config);
      // The enlarged view, or the lag map open.
      if ("view" in this.state.page && this.state.page.view !== plan.view) this.state.setPage("view", plan.view);
      if ("show" in this.state.page) this.state.setPage("show", plan.show);
    } finally {
      this.applying = false;
    }
    for (const el of this.doc.querySelectorAll("main .enlarged")) el.classList.remove("enlarged");
    if (f.state.enlarged) this.doc.getElementById(f.state.enlarged)?.classList.add("enlarged");
    this.say(`Following the presenter (frame ${f.seq})`);
    this.settle();
  }

  /** Once the run of the presenter's setting is here whole, its step and lesson step; then the frame is shown. */
  settle() {
    const f = this.want;
    if (!f || !this.attached || !this.state.showsCurrent() || !this.trace()?.complete) return;
    this.want = null;
    const { step, playing, lesson_step: lessonStep } = f.state;
    this.player.pause();
    this.player.seek(step);
    if (playing) this.player.play();
    if (this.lesson.root) this.lesson.reveal(lessonStep >= 1);
    this.doc.body.dataset.followSeq = String(f.seq); // the frame is on show: what the tests and benches wait for
  }

  stepAway() {
    if (!this.attached) return;
    this.attached = false;
    this.want = null;
    this.rejoinButton.hidden = false;
    this.say("You stepped away from the room.");
  }

  rejoin() {
    this.attached = true;
    this.rejoinButton.hidden = true;
    if (this.latest) this.apply(this.latest);
  }

  say(text) {
    this.status.textContent = text;
  }
}
