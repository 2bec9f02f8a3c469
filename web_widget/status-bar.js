// @ts-check
// The element's chrome around the cards: the toolbar (who is signed in, the connection dot, the
// notification and sound buttons), the connection banner, the "sign-in ends" notice and the
// screen-reader announcements.  What the banner says is banner.js; this module puts it on screen.

import { bannerMessage, needsAction } from "./banner.js";

/** @typedef {import("./banner.js").StateInfo} StateInfo */
/** @typedef {import("./format.js").Formatter} Formatter */
/** @typedef {"notifications"|"sound"|"title-flash"} AlertKind */
/**
 * @typedef {object} StatusBarOptions
 * @property {Record<string, any>} dom  the frame's nodes (render.js `renderFrame`)
 * @property {(name: string) => string|null} attribute  the element's attribute
 * @property {() => string} state  the connection's state
 * @property {() => {agent?: string, role?: string}|null} welcome  the last welcome
 * @property {() => Formatter} fmt  the formatter of the element's locale
 */

export class StatusBar {
  #opts;
  #muted = false;
  /** The last connection state and its details: what the banner says. @type {StateInfo} */
  stateInfo = {};
  /** @type {number|undefined} */ #bannerTimer;

  /** @param {StatusBarOptions} opts */
  constructor(opts) {
    this.#opts = opts;
  }

  /** Whether an alert of this kind may go off: its attribute is not "off", and sound is not muted. @param {AlertKind} kind */
  enabled(kind) {
    if (this.#opts.attribute(kind) === "off") return false;
    return kind === "sound" ? !this.#muted : true;
  }

  updateToolbar() {
    const d = this.#opts.dom;
    const canAsk = "Notification" in window && Notification.permission === "default" && this.enabled("notifications");
    d.notifyButton.hidden = !canAsk;
    d.soundButton.hidden = this.#opts.attribute("sound") === "off";
    d.soundButton.textContent = this.#muted ? "Sound off" : "Sound on";
    d.soundButton.setAttribute("aria-pressed", this.#muted ? "false" : "true");
    const w = this.#opts.welcome();
    d.who.textContent = w ? `${w.agent}${w.role ? ` · ${w.role}` : ""}` : "";
    const state = this.#opts.state();
    d.dot.setAttribute("data-state", state);
    d.dot.setAttribute("title", state);
  }

  askNotifications() {
    Notification.requestPermission().then(
      () => this.updateToolbar(),
      () => this.updateToolbar(),
    );
  }

  toggleSound() {
    this.#muted = !this.#muted;
    this.updateToolbar();
  }

  bannerMessage() {
    return bannerMessage(this.stateInfo, Date.now(), window.location.origin);
  }

  updateBanner() {
    const d = this.#opts.dom;
    const state = this.stateInfo.state || "connecting";
    d.banner.setAttribute("data-state", state);
    d.banner.setAttribute("role", needsAction(state) ? "alert" : "status");
    d.bannerText.textContent = this.bannerMessage();
    d.bannerButton.hidden = state === "connecting" || state === "connected";
    d.bannerButton.textContent = state === "reconnecting" ? "Retry now" : "Try again";
    window.clearInterval(this.#bannerTimer);
    if (state === "reconnecting") {
      this.#bannerTimer = window.setInterval(() => {
        d.bannerText.textContent = this.bannerMessage();
      }, 1000);
    }
  }

  /** The "sign-in ends at …" notice, and its text to announce; null hides it. @param {number|null} expMs */
  showExpiring(expMs) {
    const box = this.#opts.dom.expiring;
    box.hidden = expMs === null;
    box.textContent =
      expMs === null
        ? ""
        : `Your sign-in ends at ${this.#opts.fmt().time(new Date(expMs).toISOString())}. Sign in again to keep receiving calls.`;
    return box.textContent;
  }

  /** @param {string} text */
  announce(text) {
    // Clearing first makes screen readers announce a repeated identical message too.
    const live = this.#opts.dom.live;
    live.textContent = "";
    window.setTimeout(() => {
      live.textContent = text;
    }, 50);
  }

  /** The element left the page: no timer of the banner's runs on. */
  stop() {
    window.clearInterval(this.#bannerTimer);
  }
}
