// <screenpop-card>: the agent's caller cards (SPEC section 7).
//
//   <script type="module" src="https://screenpop.example/widget/screenpop.js"></script>
//   <screenpop-card server="https://screenpop.example" token="..."></screenpop-card>
//
// This module holds the element and its call bookkeeping; the socket policy
// lives in connection.js, card -> DOM in render.js, ring/notify in
// attention.js and the stylesheet in styles.js.

import { Attention } from "./attention.js";
import { Connection, wsUrl } from "./connection.js";
import { Formatter, h, humanise, numberText, renderBadges, renderCaller, renderConflicts, renderHistory, renderSection } from "./render.js";
import { applyStyles } from "./styles.js";

const STATUS_RANK = { ringing: 0, answered: 1, ended: 2, missed: 2 };
const STATUS_LABEL = { ringing: "Ringing", answered: "On call", ended: "Ended", missed: "Missed", withdrawn: "Taken" };
const MAX_RECORDS = 300; // bookkeeping kept for de-duplication; oldest closed calls go first
const NOTIFY_WAIT_MS = 1200; // wait this long for the customer's name before notifying without it
const WITHDRAWN_VISIBLE_MS = 4000; // long enough to read "Taken by agent-2", then it fades out
const AWAY_SLACK_MS = 60000; // clock skew allowance when picking "missed while away" calls

function emptyNotes() {
  return { disposition: "", text: "", state: "idle", message: "", savedAt: null };
}

export class ScreenpopCard extends HTMLElement {
  static get observedAttributes() {
    return ["server", "token", "locale", "currency", "heartbeat", "notifications", "sound", "title-flash"];
  }

  constructor() {
    super();
    this._token = null;
    this._tokenProvider = null;
    this.records = new Map(); // call_id -> record, insertion order = arrival order
    this.away = new Map(); // call_id -> /api/calls entry missed during a gap
    this.welcome = null;
    this.muted = false;
    this.lostAt = null;
    this.stateInfo = {};
    this.fmt = new Formatter(null, null);
    this.shadow = this.attachShadow({ mode: "open" });
    applyStyles(this.shadow);
    this.buildFrame();
    this.conn = new Connection({
      getUrl: () => wsUrl(this.serverBase()),
      getToken: () => this.currentToken(),
      canRefreshToken: () => Boolean(this._tokenProvider),
      onExpiring: (expMs) => this.onExpiring(expMs),
      onMessage: (msg) => this.onMessage(msg),
      onState: (state, info) => this.onState(state, info),
    });
    this.attention = null;
  }

  // ------------------------------------------------------------ public API

  /** "connecting" | "connected" | "reconnecting" | "unauthorized" | "forbidden-origin" */
  get state() {
    return this.conn.state;
  }

  get token() {
    return this._token;
  }

  set token(value) {
    this._token = value ? String(value) : null;
    this.credentialsChanged();
  }

  /**
   * For host apps that refresh tokens: `el.tokenProvider = async () => "<jwt>"`.  It is asked for
   * the hello, again before the token's exp (the socket then lives on with a `refresh`), and once
   * more after a 4401.
   */
  get tokenProvider() {
    return this._tokenProvider;
  }

  set tokenProvider(fn) {
    this._tokenProvider = typeof fn === "function" ? fn : null;
    this.credentialsChanged();
  }

  /** What the widget currently holds, for hosts and tests. */
  get calls() {
    return [...this.records.values()]
      .filter((r) => r.card)
      .map((r) => ({ call_id: r.callId, version: r.version, complete: r.complete, status: r.withdrawn ? "withdrawn" : r.status, dismissed: r.dismissed }));
  }

  reconnect() {
    this.conn.connectNow();
  }

  dismiss(callId) {
    const rec = this.records.get(callId);
    if (rec) this.dismissRecord(rec, true);
  }

  // ------------------------------------------------------------ lifecycle

  connectedCallback() {
    this.applyLocale();
    const hb = Number(this.getAttribute("heartbeat"));
    if (hb > 0) this.conn.opts.heartbeatMs = hb * 1000;
    if (!this.attention) this.attention = new Attention((kind) => this.enabled(kind));
    this.updateToolbar();
    this.conn.start();
  }

  disconnectedCallback() {
    this.conn.stop();
    if (this.attention) this.attention.destroy();
    this.attention = null;
    window.clearInterval(this.bannerTimer);
    for (const rec of this.records.values()) window.clearTimeout(rec.notifyTimer);
  }

  attributeChangedCallback(name, oldValue, value) {
    if (oldValue === value) return;
    if (name === "token") {
      this._token = value || null;
      this.credentialsChanged();
    } else if (name === "server") {
      this.conn.lastEventId = null; // another server's event ids mean nothing here
      this.conn.connectNow();
    } else if (name === "locale" || name === "currency") {
      this.applyLocale();
      for (const rec of this.records.values()) if (rec.view) this.renderRecord(rec, true);
    } else {
      this.updateToolbar();
    }
  }

  credentialsChanged() {
    // A live connection keeps its session and lives on with the new token (a `refresh`);
    // otherwise the new token is worth a connection attempt at once.
    if (this.conn.state === "connected") this.conn.refresh(this._tokenProvider ? null : this._token);
    else this.conn.connectNow();
  }

  applyLocale() {
    const locale = this.getAttribute("locale") || navigator.language || "en-US";
    this.fmt = new Formatter(locale, this.getAttribute("currency"));
    try {
      this.homeRegion = new Intl.Locale(locale).maximize().region || null;
    } catch (err) {
      this.homeRegion = null;
    }
  }

  enabled(kind) {
    if (this.getAttribute(kind) === "off") return false;
    return kind === "sound" ? !this.muted : true;
  }

  serverBase() {
    return this.getAttribute("server") || window.location.origin;
  }

  async currentToken() {
    if (this._tokenProvider) return (await this._tokenProvider()) || null;
    return this._token || this.getAttribute("token") || null;
  }

  emit(name, detail) {
    this.dispatchEvent(new CustomEvent(name, { detail, bubbles: true, composed: true }));
  }

  announce(text) {
    // Clearing first makes screen readers announce a repeated identical message too.
    this.live.textContent = "";
    window.setTimeout(() => {
      this.live.textContent = text;
    }, 50);
  }

  // ------------------------------------------------------------ frame

  buildFrame() {
    this.dot = h("span", { class: "dot", "aria-hidden": "true" });
    this.who = h("span", { class: "who", "data-testid": "agent" });
    this.notifyButton = h("button", { type: "button", "data-testid": "enable-notifications", hidden: true, onclick: () => this.askNotifications(), text: "Enable notifications" });
    this.soundButton = h("button", { type: "button", "data-testid": "sound-toggle", "aria-pressed": "true", onclick: () => this.toggleSound(), text: "Sound on" });
    this.bannerText = h("span", { "data-testid": "status-text" });
    this.bannerButton = h("button", { type: "button", "data-testid": "retry", onclick: () => this.reconnect(), text: "Retry now" });
    this.banner = h("div", { class: "banner", "data-testid": "status-banner", "data-state": "connecting", part: "banner" }, this.bannerText, this.bannerButton);
    this.expiring = h("div", { class: "banner expiring", "data-testid": "token-expiring", role: "alert", part: "banner", hidden: true });
    this.live = h("div", { class: "sr-only", "data-testid": "live-region", role: "status", "aria-live": "assertive", "aria-atomic": "true" });
    this.awayBox = h("section", { class: "away", "data-testid": "missed-while-away", hidden: true, "aria-label": "Calls missed while disconnected" });
    this.empty = h("p", { class: "empty", "data-testid": "empty", text: "Waiting for calls…" });
    this.cardList = h("div", { class: "cards", "data-testid": "cards", part: "cards", tabindex: "-1", role: "region", "aria-label": "Calls" });
    this.root = h(
      "div",
      { class: "root", part: "root" },
      h("div", { class: "toolbar" }, h("h2", { text: "Calls" }), h("span", {}, this.dot, this.who), this.notifyButton, this.soundButton),
      this.banner,
      this.expiring,
      this.live,
      this.awayBox,
      this.empty,
      this.cardList,
    );
    this.shadow.append(this.root);
    this.updateBanner();
  }

  updateToolbar() {
    const canAsk = "Notification" in window && Notification.permission === "default" && this.enabled("notifications");
    this.notifyButton.hidden = !canAsk;
    this.soundButton.hidden = this.getAttribute("sound") === "off";
    this.soundButton.textContent = this.muted ? "Sound off" : "Sound on";
    this.soundButton.setAttribute("aria-pressed", this.muted ? "false" : "true");
    const w = this.welcome;
    this.who.textContent = w ? `${w.agent}${w.role ? ` · ${w.role}` : ""}` : "";
    this.dot.setAttribute("data-state", this.state);
    this.dot.setAttribute("title", this.state);
  }

  askNotifications() {
    Notification.requestPermission().then(
      () => this.updateToolbar(),
      () => this.updateToolbar(),
    );
  }

  toggleSound() {
    this.muted = !this.muted;
    this.updateToolbar();
  }

  // ------------------------------------------------------------ connection state

  onState(state, info) {
    const previous = this.stateInfo.state;
    this.stateInfo = { state, ...info };
    this.setAttribute("state", state);
    if (state === "connected") {
      this.welcome = info.welcome;
      this.onWelcome(info.welcome, previous);
    } else if (previous === "connected") {
      this.showExpiring(null); // the banner now says what is wrong
      this.lostAt = Date.now();
      this.announce("Disconnected from screenpop. Reconnecting.");
    }
    if (state === "unauthorized" || state === "forbidden-origin") this.announce(this.bannerMessage());
    this.updateBanner();
    this.updateToolbar();
    if (state !== previous) this.emit("screenpop:state", { state, code: info.code ?? null, reason: info.reason ?? null });
  }

  onWelcome(welcome, previous) {
    if (previous === "reconnecting") this.announce("Reconnected.");
    if (welcome.recovered === false) this.fetchAway(this.lostAt);
    this.lostAt = null;
    for (const rec of this.records.values()) if (rec.view) this.renderRecord(rec, true);
  }

  bannerMessage() {
    const s = this.stateInfo;
    switch (s.state) {
      case "connecting":
        return "Connecting to screenpop…";
      case "reconnecting": {
        const secs = s.retryAt ? Math.ceil((s.retryAt - Date.now()) / 1000) : 0;
        return secs > 0 ? `Disconnected — reconnecting in ${secs} s…` : "Disconnected — reconnecting…";
      }
      case "unauthorized":
        return s.reason === "no-token"
          ? "Sign-in needed: no agent token was given to this widget."
          : "Sign-in needed: the server rejected this agent token (expired or not valid). Sign in again to receive calls.";
      case "forbidden-origin":
        return `This page's origin (${window.location.origin}) is not allowed to connect to screenpop. An administrator must add it to server.allowed_origins.`;
      default:
        return "";
    }
  }

  updateBanner() {
    const state = this.stateInfo.state || "connecting";
    this.banner.setAttribute("data-state", state);
    this.banner.setAttribute("role", state === "unauthorized" || state === "forbidden-origin" ? "alert" : "status");
    this.bannerText.textContent = this.bannerMessage();
    this.bannerButton.hidden = state === "connecting" || state === "connected";
    this.bannerButton.textContent = state === "reconnecting" ? "Retry now" : "Try again";
    window.clearInterval(this.bannerTimer);
    if (state === "reconnecting") {
      this.bannerTimer = window.setInterval(() => {
        this.bannerText.textContent = this.bannerMessage();
      }, 1000);
    }
  }

  // ------------------------------------------------------------ messages

  onMessage(msg) {
    if (msg.type === "card") this.applyCard(msg);
    else if (msg.type === "call") this.applyCall(msg);
    else if (msg.type === "refreshed" || msg.type === "welcome") this.showExpiring(null);
    if (msg.type === "refreshed") this.emit("screenpop:token-refreshed", { exp: msg.exp });
  }

  /** No token provider and the token runs out soon: ask the agent (and the host page) for a new one. */
  onExpiring(expMs) {
    this.showExpiring(expMs);
    this.announce(this.expiring.textContent);
    this.emit("screenpop:token-expiring", { exp: Math.floor(expMs / 1000) });
  }

  showExpiring(expMs) {
    this.expiring.hidden = expMs === null;
    this.expiring.textContent =
      expMs === null ? "" : `Your sign-in ends at ${this.fmt.time(new Date(expMs).toISOString())}. Sign in again to keep receiving calls.`;
  }

  record(callId) {
    let rec = this.records.get(callId);
    if (!rec) {
      rec = {
        callId, version: 0, card: null, complete: false, status: "ringing", mine: false,
        withdrawn: false, takenBy: null, dismissed: false, view: null, notified: false,
        notifyTimer: null, notes: emptyNotes(), expanded: new Set(), arrivedAt: Date.now(),
      };
      this.records.set(callId, rec);
      this.prune();
    }
    return rec;
  }

  prune() {
    if (this.records.size <= MAX_RECORDS) return;
    for (const [id, rec] of this.records) {
      if (this.records.size <= MAX_RECORDS) break;
      if (rec.dismissed || rec.withdrawn || !rec.view) this.records.delete(id);
    }
  }

  applyCard(msg) {
    const card = msg.card;
    const callId = msg.call_id || (card && card.call_id);
    if (!callId || !card || typeof card !== "object") return;
    const version = Number(msg.version) || 0;
    const rec = this.record(callId);
    if (rec.card && version <= rec.version) return; // a replay or an older snapshot: never shown twice
    const firstSight = !rec.card;
    rec.version = version;
    rec.card = card;
    rec.complete = Boolean(msg.complete);
    if (STATUS_RANK[card.status] > STATUS_RANK[rec.status]) rec.status = card.status;
    if (card.status === "answered" && this.welcome && card.agent === this.welcome.agent) rec.mine = true;
    if (rec.withdrawn || rec.dismissed) return;
    this.renderRecord(rec, false);
    this.emit("screenpop:card", { call_id: callId, version, complete: rec.complete, card });
    this.attend(rec, firstSight);
  }

  applyCall(msg) {
    if (!msg.call_id || !STATUS_RANK[msg.status]) return;
    const rec = this.record(msg.call_id);
    const me = this.welcome && this.welcome.agent;
    const answered = msg.status === "answered";
    if (answered && msg.agent && me && msg.agent !== me) {
      if (rec.status === "ringing" && !rec.withdrawn) this.withdraw(rec, msg.agent);
    } else {
      if (answered) rec.mine = true;
      if (STATUS_RANK[msg.status] > STATUS_RANK[rec.status]) rec.status = msg.status;
      if (rec.view && !rec.dismissed && !rec.withdrawn) this.renderRecord(rec, false);
    }
    if (this.attention) this.attention.stop(msg.call_id);
    window.clearTimeout(rec.notifyTimer);
    if (answered) this.emit("screenpop:answered", { call_id: msg.call_id, agent: msg.agent || null, mine: !rec.withdrawn, card: rec.card });
    this.emit("screenpop:call", { call_id: msg.call_id, status: msg.status, agent: msg.agent || null });
  }

  withdraw(rec, agent) {
    rec.withdrawn = true;
    rec.takenBy = agent;
    if (!rec.view) return;
    this.renderRecord(rec, false);
    this.announce(`Call from ${this.callerLabel(rec.card).name} was taken by ${agent}.`);
    const view = rec.view;
    const reduced = window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches;
    view.fadeTimer = window.setTimeout(() => view.el.classList.add("fading"), WITHDRAWN_VISIBLE_MS);
    view.removeTimer = window.setTimeout(() => this.removeView(rec), WITHDRAWN_VISIBLE_MS + (reduced ? 0 : 700));
  }

  // ------------------------------------------------------------ attention

  callerLabel(card) {
    const caller = (card && card.caller) || {};
    const customer = (card && card.customer) || {};
    const name = customer.name || caller.name || "Unknown caller";
    return { name, number: numberText(caller, { homeRegion: this.homeRegion }) };
  }

  attend(rec, firstSight) {
    if (rec.status !== "ringing" || rec.withdrawn) return;
    const { name, number } = this.callerLabel(rec.card);
    if (this.attention) this.attention.ring(rec.callId, `${name} calling`);
    if (firstSight) this.announce(`Incoming call: ${name}, ${number}.`);
    const knowsName = Boolean(rec.card.customer && rec.card.customer.name);
    if (rec.notified) {
      // Notified early with the caller ID only: replace it (same tag) once the customer is known.
      if (knowsName && rec.notifiedName !== name) this.notify(rec, true);
      return;
    }
    if (knowsName || rec.complete) this.notify(rec);
    else if (firstSight) rec.notifyTimer = window.setTimeout(() => this.notify(rec), NOTIFY_WAIT_MS);
  }

  notify(rec, again = false) {
    window.clearTimeout(rec.notifyTimer);
    if ((rec.notified && !again) || rec.status !== "ringing" || rec.withdrawn || rec.dismissed || !this.attention) return;
    rec.notified = true;
    const { name, number } = this.callerLabel(rec.card);
    rec.notifiedName = name;
    this.attention.notify(rec.callId, name, number, () => this.focusCard(rec));
  }

  focusCard(rec) {
    if (rec.view) rec.view.el.focus();
  }

  // ------------------------------------------------------------ card views

  renderRecord(rec, full) {
    if (!rec.card || rec.dismissed) return;
    if (!rec.view) {
      rec.view = this.buildView(rec);
      this.insertView(rec);
      full = true;
    }
    const v = rec.view;
    const card = rec.card;
    const status = rec.withdrawn ? "withdrawn" : rec.status;
    v.el.setAttribute("data-version", String(rec.version));
    v.el.setAttribute("data-status", status);
    v.el.setAttribute("data-complete", rec.complete ? "true" : "false");
    const { name, number } = this.callerLabel(card);
    v.el.setAttribute("aria-label", `${STATUS_LABEL[status]}: ${name}, ${number}`);
    v.pill.textContent = rec.status === "answered" && !rec.mine && !rec.withdrawn ? "Answered" : STATUS_LABEL[status];
    v.queue.textContent = card.queue ? `Queue: ${card.queue}` : "";
    v.when.textContent = this.fmt.time(card.received_at);
    v.taken.hidden = !rec.withdrawn;
    v.taken.textContent = rec.withdrawn ? `Taken by ${rec.takenBy}` : "";
    this.swap(v, "caller", renderCaller(card, { homeRegion: this.homeRegion }), full);
    this.swap(v, "badges", renderBadges(card), full);
    this.swap(v, "conflicts", renderConflicts(card, (n) => this.sectionTitle(n, card)), full);
    this.swap(v, "actions", this.renderActions(rec), full);
    this.renderSections(rec, full);
    this.swap(v, "history", renderHistory(card.history, this.fmt), full);
    this.renderNotes(rec);
    this.empty.hidden = this.cardList.childElementCount > 0;
  }

  buildView(rec) {
    const v = { parts: {}, keys: {}, sectionEls: new Map(), sectionKeys: new Map() };
    v.pill = h("span", { class: "pill", "data-testid": "call-status" });
    v.queue = h("span", { class: "queue" });
    v.when = h("span", { class: "when" });
    v.dismiss = h("button", { type: "button", class: "dismiss", "data-testid": "dismiss", onclick: () => this.dismissRecord(rec, false), text: "Dismiss" });
    v.taken = h("div", { class: "taken", "data-testid": "taken-by", hidden: true });
    v.sections = h("div", { class: "sections", "data-testid": "sections" });
    for (const slot of ["caller", "badges", "conflicts", "actions", "history"]) v.parts[slot] = h("div", { hidden: true });
    v.notesSlot = h("div", {});
    v.el = h(
      "article",
      { class: "card", "data-testid": "card", "data-call-id": rec.callId, part: "card", tabindex: "-1" },
      h("div", { class: "card-top" }, v.pill, v.queue, v.when, v.dismiss),
      v.taken,
      v.parts.caller,
      v.parts.badges,
      v.parts.conflicts,
      v.parts.actions,
      v.sections,
      v.parts.history,
      v.notesSlot,
    );
    return v;
  }

  /** Newest call first: by the server's received_at, else by arrival. */
  insertView(rec) {
    const key = (r) => Date.parse(r.card && r.card.received_at) || r.arrivedAt;
    const mine = key(rec);
    const before = [...this.cardList.children].find((el) => {
      const other = this.records.get(el.getAttribute("data-call-id"));
      return other && key(other) < mine;
    });
    this.cardList.insertBefore(rec.view.el, before || null);
  }

  /** Replace a part only when its content changed, so focus and selection survive updates. */
  swap(v, slot, node, full) {
    const key = node ? node.outerHTML : ""; // read only, as a change key: nothing is ever assigned as HTML
    if (!full && v.keys[slot] === key) return;
    v.keys[slot] = key;
    const placeholder = node || h("div", { hidden: true });
    v.parts[slot].replaceWith(placeholder);
    v.parts[slot] = placeholder;
  }

  sectionTitle(name, card) {
    const meta = this.sectionMeta(name);
    const section = card && card.sections && card.sections[name];
    return (section && section.title) || (meta && meta.title) || name;
  }

  sectionMeta(name) {
    const list = (this.welcome && Array.isArray(this.welcome.sections) && this.welcome.sections) || [];
    return list.find((s) => s && s.name === name) || null;
  }

  sectionOrder(card) {
    const present = Object.keys(card.sections || {});
    const configured = ((this.welcome && this.welcome.sections) || []).map((s) => s.name).filter((n) => present.includes(n));
    return [...configured, ...present.filter((n) => !configured.includes(n))];
  }

  renderSections(rec, full) {
    const v = rec.view;
    const order = this.sectionOrder(rec.card);
    const state = { expanded: rec.expanded, toggle: (name) => this.toggleRows(rec, name) };
    for (const name of order) {
      const section = rec.card.sections[name];
      const key = JSON.stringify(section) + (rec.expanded.has(name) ? "+" : "");
      if (!full && v.sectionKeys.get(name) === key) continue;
      const el = renderSection(name, this.sectionMeta(name), section, this.fmt, state);
      const old = v.sectionEls.get(name);
      if (old) old.replaceWith(el);
      else v.sections.append(el);
      v.sectionEls.set(name, el);
      v.sectionKeys.set(name, key);
    }
    for (const [name, el] of v.sectionEls) {
      if (!order.includes(name)) {
        el.remove();
        v.sectionEls.delete(name);
        v.sectionKeys.delete(name);
      }
    }
    const wanted = order.map((n) => v.sectionEls.get(n));
    if (wanted.some((el, i) => v.sections.children[i] !== el)) v.sections.append(...wanted);
  }

  toggleRows(rec, name) {
    if (rec.expanded.has(name)) rec.expanded.delete(name);
    else rec.expanded.add(name);
    this.renderSections(rec, false);
    const button = rec.view.sectionEls.get(name).querySelector('[data-testid="toggle-rows"]');
    if (button) button.focus();
  }

  renderActions(rec) {
    const customer = rec.card.customer || {};
    const ids = customer.ids && typeof customer.ids === "object" ? customer.ids : {};
    if (!Object.keys(ids).length) return null;
    const open = () =>
      this.emit("screenpop:open", { call_id: rec.callId, ids: { ...ids }, customer: customer.name || null, e164: (rec.card.caller || {}).e164 || null });
    return h("div", { class: "actions" }, h("button", { type: "button", "data-testid": "open-record", part: "open-record", onclick: open, text: "Open record" }));
  }

  removeView(rec) {
    if (!rec.view) return;
    window.clearTimeout(rec.view.fadeTimer);
    window.clearTimeout(rec.view.removeTimer);
    rec.view.el.remove();
    rec.view = null;
    this.empty.hidden = this.cardList.childElementCount > 0;
  }

  dismissRecord(rec, force) {
    const unsaved = rec.notes.state === "dirty" || rec.notes.state === "error";
    if (unsaved && !force && !rec.confirmDismiss && rec.view) {
      rec.confirmDismiss = true;
      rec.view.dismiss.textContent = "Discard unsaved notes?";
      return;
    }
    const next = rec.view && (rec.view.el.nextElementSibling || rec.view.el.previousElementSibling);
    rec.dismissed = true;
    window.clearTimeout(rec.notifyTimer);
    if (this.attention) this.attention.stop(rec.callId);
    this.removeView(rec);
    (next || this.cardList).focus();
  }

  // ------------------------------------------------------------ notes

  renderNotes(rec) {
    const v = rec.view;
    const show = rec.status !== "ringing" && !rec.withdrawn;
    if (!show) {
      v.notesSlot.replaceChildren();
      v.notes = null;
      return;
    }
    if (!v.notes) {
      v.notes = this.buildNotes(rec);
      v.notesSlot.replaceChildren(v.notes.form);
    }
    this.updateNotesStatus(rec);
  }

  buildNotes(rec) {
    const n = rec.notes;
    // `dispositions: null` in the welcome: no list is configured and any text of 1-64 characters is accepted
    const free = Boolean(this.welcome) && this.welcome.dispositions === null;
    const dispositions = (this.welcome && Array.isArray(this.welcome.dispositions) && this.welcome.dispositions) || [];
    const select = free
      ? h("input", { type: "text", "data-testid": "disposition", name: "disposition", maxlength: "64" })
      : h("select", { "data-testid": "disposition", name: "disposition" }, h("option", { value: "", text: "Choose…" }));
    if (!free) {
      for (const d of dispositions) select.append(h("option", { value: String(d), text: humanise(d) }));
      if (n.disposition && !dispositions.includes(n.disposition)) select.append(h("option", { value: n.disposition, text: humanise(n.disposition) }));
    }
    select.value = n.disposition;
    const textarea = h("textarea", { "data-testid": "notes", name: "notes", maxlength: "4000", rows: "3" });
    textarea.value = n.text;
    const status = h("span", { class: "notes-status", "data-testid": "notes-status", role: "status", "aria-live": "polite" });
    const save = h("button", { type: "submit", class: "primary", "data-testid": "save-notes", text: "Save" });
    const form = h(
      "form",
      { class: "notes", "data-testid": "notes-form", novalidate: true, "aria-label": "Call outcome" },
      h("label", {}, "Disposition", select),
      h("label", {}, "Notes", textarea),
      h("div", { class: "notes-row" }, save, status),
    );
    const edited = () => {
      n.disposition = select.value;
      n.text = textarea.value;
      if (n.state !== "saving") n.state = "dirty";
      rec.confirmDismiss = false;
      rec.view.dismiss.textContent = "Dismiss";
      this.updateNotesStatus(rec);
    };
    select.addEventListener(free ? "input" : "change", edited);
    textarea.addEventListener("input", edited);
    textarea.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) {
        ev.preventDefault();
        form.requestSubmit();
      }
    });
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      this.saveNotes(rec);
    });
    return { form, select, textarea, status, save };
  }

  updateNotesStatus(rec) {
    const v = rec.view && rec.view.notes;
    if (!v) return;
    const n = rec.notes;
    const text = {
      idle: "",
      dirty: "Not saved yet",
      saving: "Saving…",
      saved: n.savedAt ? `Saved at ${this.fmt.time(n.savedAt)}` : "Saved",
      error: `Not saved: ${n.message} Your text is kept; press Retry save.`,
    }[n.state];
    v.status.setAttribute("data-state", n.state);
    v.status.textContent = text;
    v.save.disabled = n.state === "saving";
    v.save.textContent = n.state === "error" ? "Retry save" : "Save";
  }

  async saveNotes(rec) {
    const n = rec.notes;
    if (n.state === "saving") return;
    if (!n.disposition && !n.text.trim()) {
      n.state = "error";
      n.message = "Choose a disposition or write a note.";
      return this.updateNotesStatus(rec);
    }
    const body = { disposition: n.disposition, notes: n.text };
    n.state = "saving";
    this.updateNotesStatus(rec);
    const sent = JSON.stringify(body);
    let result = await this.postNotes(rec.callId, sent);
    if (result.status === 401 && this._tokenProvider) result = await this.postNotes(rec.callId, sent);
    // Typed on while saving: the server has the older text, so the form stays "not saved".
    const current = JSON.stringify({ disposition: n.disposition, notes: n.text });
    if (result.ok) {
      n.state = current === sent ? "saved" : "dirty";
      n.savedAt = new Date().toISOString();
      this.emit("screenpop:notes-saved", { call_id: rec.callId, ...body });
    } else {
      n.state = "error";
      n.message = result.message;
    }
    this.updateNotesStatus(rec);
  }

  async postNotes(callId, body) {
    const base = this.serverBase().replace(/\/+$/, "") + "/";
    const url = new URL(`api/calls/${encodeURIComponent(callId)}/notes`, new URL(base, window.location.href));
    try {
      const token = await this.currentToken();
      const resp = await fetch(url, {
        method: "POST",
        headers: { "Content-Type": "application/json", Authorization: `Bearer ${token || ""}` },
        body,
        credentials: "omit",
      });
      if (resp.ok) return { ok: true, status: resp.status };
      return { ok: false, status: resp.status, message: await errorMessage(resp) };
    } catch (err) {
      return { ok: false, status: 0, message: "The server could not be reached." };
    }
  }

  // ------------------------------------------------------------ missed while away

  async fetchAway(lostAt) {
    const base = this.serverBase().replace(/\/+$/, "") + "/";
    const url = new URL("api/calls?limit=20", new URL(base, window.location.href));
    let calls;
    try {
      const token = await this.currentToken();
      const resp = await fetch(url, { headers: { Authorization: `Bearer ${token || ""}` }, credentials: "omit" });
      if (!resp.ok) return;
      const data = await resp.json();
      calls = Array.isArray(data && data.calls) ? data.calls : [];
    } catch (err) {
      return;
    }
    const since = lostAt ? lostAt - AWAY_SLACK_MS : 0;
    for (const call of calls) {
      if (!call || !call.call_id) continue;
      const known = this.records.get(call.call_id);
      if (known && known.card) continue;
      const at = Date.parse(call.received_at);
      if (since && Number.isFinite(at) && at < since) continue;
      this.away.set(call.call_id, call);
    }
    this.renderAway();
  }

  renderAway() {
    const items = [...this.away.values()].sort((a, b) => (Date.parse(b.received_at) || 0) - (Date.parse(a.received_at) || 0));
    this.awayBox.hidden = items.length === 0;
    if (!items.length) return this.awayBox.replaceChildren();
    const clear = () => {
      this.away.clear();
      this.renderAway();
      this.cardList.focus();
    };
    const list = h("ul", {});
    for (const call of items) {
      const { name, number } = this.callerLabel(call);
      list.append(
        h(
          "li",
          { "data-testid": "missed-item", "data-call-id": call.call_id },
          h("strong", { text: name }),
          h("span", { text: number }),
          h("span", { class: "muted", text: [humanise(call.status || "unknown"), call.agent, this.fmt.time(call.received_at)].filter(Boolean).join(" · ") }),
        ),
      );
    }
    this.awayBox.replaceChildren(
      h("header", {}, h("h3", { text: `Missed while away (${items.length})` }), h("button", { type: "button", "data-testid": "clear-missed", onclick: clear, text: "Clear" })),
      list,
    );
  }
}

/** The SPEC's error shape {"error": {"code", "message"}}, or a plain sentence for anything else. */
async function errorMessage(resp) {
  try {
    const data = await resp.json();
    if (data && data.error && data.error.message) return String(data.error.message).replace(/\.?$/, ".");
  } catch (err) {
    /* not JSON: fall through */
  }
  return resp.status === 401 ? "Your sign-in has expired." : `The server answered ${resp.status}.`;
}

if (!customElements.get("screenpop-card")) customElements.define("screenpop-card", ScreenpopCard);
