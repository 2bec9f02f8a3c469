// @ts-check
// <screenpop-card>: the element class (SPEC section 7), registered by define.js.
//
// It wires the parts together and owns what hosts may use: attributes, the `token`,
// `tokenProvider`, `state` and `calls` properties, `reconnect()`, `dismiss()` and the
// `screenpop:*` events.  Everything else is #private.  The calls' bookkeeping is call-store.js,
// what a card or status message does on screen call-reactions.js, the socket policy
// connection.js, one card's DOM card-view.js, the notes form notes-form.js,
// the answers to suggestions feedback.js, HTTP api.js, the gap list missed.js, ring/notify
// attention.js, a card cut off by a dead server interrupted.js, the toolbar, banner and
// announcements status-bar.js and the stylesheet styles.js.

import { postFeedback, postNotes } from "./api.js";
import { Attention } from "./attention.js";
import { needsAction } from "./banner.js";
import { CallReactions } from "./call-reactions.js";
import { CallStore } from "./call-store.js";
import { CardViews } from "./card-view.js";
import { Connection, wsUrl } from "./connection.js";
import { FeedbackAnswers } from "./feedback.js";
import { Formatter } from "./format.js";
import { NotesForms } from "./notes-form.js";
import { InterruptWatch } from "./interrupted.js";
import { MissedWhileAway } from "./missed.js";
import { renderFrame } from "./render.js";
import { StatusBar } from "./status-bar.js";
import { applyStyles } from "./styles.js";

/** @typedef {import("./call-store.js").CallRecord} CallRecord */
/** @typedef {{type: string, agent?: string, role?: string, queues?: unknown, recovered?: boolean, sections?: unknown, dispositions?: unknown, card?: unknown}} Welcome */

export class ScreenpopCard extends HTMLElement {
  static get observedAttributes() {
    return ["server", "token", "locale", "currency", "heartbeat", "notifications", "sound", "title-flash"];
  }

  /** @type {string|null} */ #token = null;
  /** @type {(() => Promise<string|null>|string|null)|null} */ #tokenProvider = null;
  #store = new CallStore();
  /** @type {Welcome|null} */ #welcome = null;
  /** @type {number|null} */ #lostAt = null;
  #fmt = new Formatter(null, null);
  /** @type {string|null} */ #homeRegion = null;
  /** @type {Attention|null} */ #attention = null;
  #dom;
  #bar;
  #conn;
  #views;
  #notes;
  #missed;
  #reactions;
  #interrupts = new InterruptWatch(window, (callId, version) => this.#reactions.interrupted(callId, version));

  constructor() {
    super();
    const shadow = this.attachShadow({ mode: "open" });
    applyStyles(shadow);
    this.#dom = renderFrame(shadow, {
      askNotifications: () => this.#bar.askNotifications(),
      toggleSound: () => this.#bar.toggleSound(),
      retry: () => this.reconnect(),
    });
    this.#bar = new StatusBar({
      dom: this.#dom,
      attribute: (name) => this.getAttribute(name),
      state: () => this.state,
      welcome: () => this.#welcome,
      fmt: () => this.#fmt,
    });
    /** @param {CallRecord} rec */
    const edited = (rec) => {
      rec.confirmDismiss = false;
      if (rec.view) rec.view.dismiss.textContent = "Dismiss";
      if (rec.transferredTo || rec.ringStopped) {
        // typing (or ✓/✕) on a card on its way out (transferred away, no longer ringing here): it waits for the save or discard
        this.#views.stay(rec);
        this.#reactions.leaveOnceSaved(rec);
      }
    };
    this.#notes = new NotesForms({
      welcome: () => this.#welcome,
      fmt: () => this.#fmt,
      post: (callId, body) => postNotes({ server: this.#serverBase(), getToken: () => this.#currentToken(), callId, body }),
      retryOn401: () => Boolean(this.#tokenProvider),
      edited,
      saved: (rec, body) => {
        this.#emit("screenpop:notes-saved", { call_id: rec.callId, ...body });
        this.#reactions.leaveOnceSaved(rec);
      },
    });
    const feedback = new FeedbackAnswers({
      post: (callId, body) => postFeedback({ server: this.#serverBase(), getToken: () => this.#currentToken(), callId, body }),
      retryOn401: () => Boolean(this.#tokenProvider),
      edited,
      saved: (rec, answer) => {
        this.#emit("screenpop:feedback", { call_id: rec.callId, ...answer });
        this.#reactions.leaveOnceSaved(rec);
      },
    });
    this.#views = new CardViews({
      store: this.#store,
      list: this.#dom.cardList,
      empty: this.#dom.empty,
      fmt: () => this.#fmt,
      homeRegion: () => this.#homeRegion,
      welcome: () => this.#welcome,
      notes: this.#notes,
      feedback,
      dismiss: (rec) => this.#reactions.dismiss(rec, false),
      emit: (name, detail) => this.#emit(name, detail),
    });
    this.#reactions = new CallReactions({
      store: this.#store,
      views: this.#views,
      interrupts: this.#interrupts,
      bar: this.#bar,
      welcome: () => this.#welcome,
      attention: () => this.#attention,
      homeRegion: () => this.#homeRegion,
      emit: (name, detail) => this.#emit(name, detail),
    });
    this.#missed = new MissedWhileAway({
      box: this.#dom.awayBox,
      store: this.#store,
      server: () => this.#serverBase(),
      getToken: () => this.#currentToken(),
      fmt: () => this.#fmt,
      homeRegion: () => this.#homeRegion,
      cleared: () => this.#dom.cardList.focus(),
      transferredAway: (recs) => {
        for (const rec of recs) this.#reactions.transferredAway(rec);
      },
    });
    this.#conn = new Connection({
      getUrl: () => wsUrl(this.#serverBase()),
      getToken: () => this.#currentToken(),
      canRefreshToken: () => Boolean(this.#tokenProvider),
      onExpiring: (expMs) => this.#onExpiring(expMs),
      onAgentChange: () => this.#forgetAgent(),
      onMessage: (msg) => this.#onMessage(msg),
      onState: (state, info) => this.#onState(state, info),
    });
    this.#bar.updateBanner();
  }

  // ------------------------------------------------------------ public API

  /** "connecting" | "connected" | "reconnecting" | "unauthorized" | "forbidden-origin" */
  get state() {
    return this.#conn.state;
  }

  get token() {
    return this.#token;
  }

  set token(value) {
    this.#token = value ? String(value) : null;
    this.#credentialsChanged();
  }

  /**
   * For host apps that refresh tokens: `el.tokenProvider = async () => "<jwt>"`.  It is asked for
   * the hello, again before the token's exp (the socket then lives on with a `refresh`), and once
   * more after a 4401.
   */
  get tokenProvider() {
    return this.#tokenProvider;
  }

  set tokenProvider(fn) {
    this.#tokenProvider = typeof fn === "function" ? fn : null;
    this.#credentialsChanged();
  }

  /** What the widget currently holds, for hosts and tests. */
  get calls() {
    return this.#store.snapshot();
  }

  reconnect() {
    this.#conn.connectNow();
  }

  /** @param {string} callId */
  dismiss(callId) {
    const rec = this.#store.get(callId);
    if (rec) this.#reactions.dismiss(rec, true);
  }

  // ------------------------------------------------------------ lifecycle

  connectedCallback() {
    this.#applyLocale();
    const hb = Number(this.getAttribute("heartbeat"));
    if (hb > 0) this.#conn.opts.heartbeatMs = hb * 1000;
    if (!this.#attention) this.#attention = new Attention((kind) => this.#bar.enabled(kind));
    this.#bar.updateToolbar();
    this.#conn.start();
  }

  disconnectedCallback() {
    this.#conn.stop();
    if (this.#attention) this.#attention.destroy();
    this.#attention = null;
    this.#bar.stop();
    for (const rec of this.#store.records()) window.clearTimeout(rec.notifyTimer);
  }

  /** @param {string} name @param {string|null} oldValue @param {string|null} value */
  attributeChangedCallback(name, oldValue, value) {
    if (oldValue === value) return;
    if (name === "token") {
      this.#token = value || null;
      this.#credentialsChanged();
    } else if (name === "server") {
      this.#conn.lastEventId = null; // another server's event ids mean nothing here
      this.#conn.connectNow();
    } else if (name === "locale" || name === "currency") {
      this.#applyLocale();
      for (const rec of this.#store.records()) if (rec.view) this.#views.render(rec, true);
    } else {
      this.#bar.updateToolbar();
    }
  }

  #credentialsChanged() {
    // A live connection keeps its session and lives on with the new token (a `refresh`);
    // otherwise the new token is worth a connection attempt at once.
    if (this.#conn.state === "connected") this.#conn.refresh(this.#tokenProvider ? null : this.#token);
    else this.#conn.connectNow();
  }

  #applyLocale() {
    const locale = this.getAttribute("locale") || navigator.language || "en-US";
    this.#fmt = new Formatter(locale, this.getAttribute("currency"));
    try {
      this.#homeRegion = new Intl.Locale(locale).maximize().region || null;
    } catch (err) {
      this.#homeRegion = null; // a malformed locale attribute: numbers are shown as national
    }
  }

  #serverBase() {
    return this.getAttribute("server") || window.location.origin;
  }

  /** @returns {Promise<string|null>} */
  async #currentToken() {
    if (this.#tokenProvider) return (await this.#tokenProvider()) || null;
    return this.#token || this.getAttribute("token") || null;
  }

  /** @param {string} name @param {object} detail */
  #emit(name, detail) {
    this.dispatchEvent(new CustomEvent(name, { detail, bubbles: true, composed: true }));
  }

  // ------------------------------------------------------------ connection state

  /** @param {string} state @param {Record<string, any>} info */
  #onState(state, info) {
    const previous = this.#bar.stateInfo.state;
    this.#bar.stateInfo = { state, ...info };
    this.setAttribute("state", state);
    if (state === "connected") {
      const before = this.#welcome;
      this.#welcome = info.welcome;
      this.#store.agent = (info.welcome && info.welcome.agent) || null;
      if (before && info.welcome && before.agent === info.welcome.agent && before.role !== info.welcome.role) this.#roleChanged(info.welcome);
      this.#onWelcome(info.welcome, previous);
    } else if (previous === "connected") {
      this.#bar.showExpiring(null); // the banner now says what is wrong
      this.#lostAt = Date.now();
      this.#bar.announce("Disconnected from screenpop. Reconnecting.");
    }
    if (needsAction(state)) this.#bar.announce(this.#bar.bannerMessage());
    this.#bar.updateBanner();
    this.#bar.updateToolbar();
    if (state !== previous) this.#emit("screenpop:state", { state, code: info.code ?? null, reason: info.reason ?? null });
  }

  /** @param {Welcome} welcome @param {string|undefined} previous */
  #onWelcome(welcome, previous) {
    if (previous === "reconnecting") this.#bar.announce("Reconnected.");
    if (welcome.recovered === false) this.#missed.fetch(this.#lostAt);
    this.#lostAt = null;
    for (const rec of this.#store.records()) if (rec.view) this.#views.render(rec, true);
  }

  /** The same agent under another role: held cards keep only the sections this role sees (re-drawn on welcome). @param {Welcome} welcome */
  #roleChanged(welcome) {
    if (!Array.isArray(welcome.sections)) return;
    this.#store.narrowTo(new Set(welcome.sections.map((/** @type {any} */ s) => s && s.name)));
  }

  /**
   * A reload changed what this agent sees (role, sections, queues, dispositions) while the socket stayed
   * open: the header, the section hints and the cards held follow, as after a new welcome.
   * @param {Record<string, any>} msg
   */
  #reconfigured(msg) {
    const before = this.#welcome;
    if (!before) return;
    const { role, queues, sections, dispositions, card } = msg;
    this.#welcome = { ...before, role, queues, sections, dispositions, card };
    this.#roleChanged(this.#welcome);
    for (const rec of this.#store.records()) if (rec.view) this.#views.render(rec, true);
    this.#bar.updateToolbar();
  }

  /** Another agent signs in on this widget: the last one's cards, notes and missed calls leave the screen. */
  #forgetAgent() {
    for (const rec of this.#store.records()) {
      window.clearTimeout(rec.notifyTimer);
      if (this.#attention) this.#attention.stop(rec.callId);
      this.#views.remove(rec);
    }
    this.#store.clear();
    this.#interrupts.clear();
    this.#missed.reset();
    this.#lostAt = null;
    this.#welcome = null;
    this.#bar.updateToolbar();
  }

  /** No token provider and the token runs out soon: ask the agent (and the host page) for a new one. @param {number} expMs */
  #onExpiring(expMs) {
    this.#bar.announce(this.#bar.showExpiring(expMs));
    this.#emit("screenpop:token-expiring", { exp: Math.floor(expMs / 1000) });
  }

  // ------------------------------------------------------------ messages

  /** @param {Record<string, any>} msg */
  #onMessage(msg) {
    if (msg.type === "card") this.#reactions.applyCard(msg);
    else if (msg.type === "call") this.#reactions.applyCall(msg);
    else if (msg.type === "role") this.#reconfigured(msg);
    else if (msg.type === "refreshed" || msg.type === "welcome") this.#bar.showExpiring(null);
    if (msg.type === "refreshed") this.#emit("screenpop:token-refreshed", { exp: msg.exp });
  }
}
