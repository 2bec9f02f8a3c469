// @ts-check
// Getting the agent's attention while a card rings: desktop notification,
// a WebAudio ring (no audio file to host), and a flashing page title.
// Each is switchable off by the element's attributes; the element asks
// `enabled(kind)` at the moment of use, so toggling takes effect at once.

const RING_EVERY_MS = 3000;
const RING_LIMIT_MS = 45000; // a card nobody picks up must not ring forever
const FLASH_EVERY_MS = 1000;
const NOTIFY_WAIT_MS = 1200; // wait this long for the customer's name before notifying without it

/** @typedef {import("./call-store.js").CallRecord} CallRecord */
/** @typedef {() => {name: string, number: string}} Label  who is calling, as of now */

export class Attention {
  /** @param {(kind: "notifications"|"sound"|"title-flash") => boolean} enabled */
  constructor(enabled) {
    this.enabled = enabled;
    this.ringing = new Map(); // call_id -> {label, since}
    this.notes = new Map(); // call_id -> Notification
    this.audio = null;
    this.ringTimer = null;
    this.flashTimer = null;
    this.savedTitle = null;
    // Browsers only let audio start after a user gesture on the page.
    this.unlock = () => {
      /** @type {typeof AudioContext|undefined} Safari before 14.1 only has the prefixed one */
      const Ctx = window.AudioContext || /** @type {any} */ (window).webkitAudioContext;
      if (!this.audio && Ctx) this.audio = new Ctx();
      if (this.audio && this.audio.state === "suspended") this.audio.resume().catch(() => {});
    };
    window.addEventListener("pointerdown", this.unlock, { capture: true, passive: true });
    window.addEventListener("keydown", this.unlock, { capture: true, passive: true });
  }

  destroy() {
    window.removeEventListener("pointerdown", this.unlock, { capture: true });
    window.removeEventListener("keydown", this.unlock, { capture: true });
    for (const id of [...this.ringing.keys()]) this.stop(id);
    if (this.audio) this.audio.close().catch(() => {});
    this.audio = null;
  }

  /** Start (or update the label of) a ringing call. @param {string} callId @param {string} label */
  ring(callId, label) {
    const existing = this.ringing.get(callId);
    this.ringing.set(callId, { label, since: existing ? existing.since : Date.now() });
    if (!existing) this.beep();
    if (!this.ringTimer) this.ringTimer = window.setInterval(() => this.ringTick(), RING_EVERY_MS);
    if (!this.flashTimer && this.enabled("title-flash")) {
      this.savedTitle = document.title;
      this.flashOn = false;
      this.flashTimer = window.setInterval(() => this.flashTick(), FLASH_EVERY_MS);
      this.flashTick();
    }
  }

  /** The call stopped ringing (answered, taken, ended, dismissed). @param {string} callId */
  stop(callId) {
    this.ringing.delete(callId);
    const note = this.notes.get(callId);
    if (note) note.close();
    this.notes.delete(callId);
    if (this.ringing.size) return;
    if (this.ringTimer) window.clearInterval(this.ringTimer);
    this.ringTimer = null;
    this.stopFlash();
  }

  stopFlash() {
    if (this.flashTimer) window.clearInterval(this.flashTimer);
    this.flashTimer = null;
    if (this.savedTitle !== null) document.title = this.savedTitle;
    this.savedTitle = null;
  }

  ringTick() {
    const now = Date.now();
    const fresh = [...this.ringing.values()].some((r) => now - r.since < RING_LIMIT_MS);
    if (fresh) this.beep();
    if (!this.enabled("title-flash")) this.stopFlash();
  }

  flashTick() {
    if (!this.ringing.size) return this.stopFlash();
    this.flashOn = !this.flashOn;
    const newest = [...this.ringing.values()].at(-1);
    document.title = this.flashOn ? `☎ ${newest.label}` : this.savedTitle || "";
  }

  /** Two short tones, the classic ring cadence; silent until the page has had a user gesture. */
  beep() {
    if (!this.enabled("sound") || !this.audio || this.audio.state !== "running") return;
    const ctx = this.audio;
    const t0 = ctx.currentTime + 0.02;
    for (const offset of [0, 0.45]) {
      const osc = ctx.createOscillator();
      const gain = ctx.createGain();
      osc.type = "sine";
      osc.frequency.value = 480;
      gain.gain.setValueAtTime(0, t0 + offset);
      gain.gain.linearRampToValueAtTime(0.15, t0 + offset + 0.03);
      gain.gain.setValueAtTime(0.15, t0 + offset + 0.3);
      gain.gain.linearRampToValueAtTime(0, t0 + offset + 0.35);
      osc.connect(gain).connect(ctx.destination);
      osc.start(t0 + offset);
      osc.stop(t0 + offset + 0.4);
    }
  }

  /**
   * A ringing call's card arrived or changed: ring, and notify once the customer's name is known
   * (or after a short wait without it); a notification made with the caller ID only is replaced
   * (same tag) once the customer is known.
   * @param {CallRecord} rec
   * @param {boolean} firstSight
   * @param {Label} label
   * @param {() => void} focus  the notification was clicked
   */
  attend(rec, firstSight, label, focus) {
    const { name } = label();
    this.ring(rec.callId, `${name} calling`);
    const card = rec.card || {};
    const knowsName = Boolean(card.customer && card.customer.name);
    if (rec.notified) {
      if (knowsName && rec.notifiedName !== name) this.#notifyCall(rec, label, focus, true);
      return;
    }
    if (knowsName || rec.complete) this.#notifyCall(rec, label, focus);
    else if (firstSight) rec.notifyTimer = window.setTimeout(() => this.#notifyCall(rec, label, focus), NOTIFY_WAIT_MS);
  }

  /** @param {CallRecord} rec @param {Label} label @param {() => void} focus */
  #notifyCall(rec, label, focus, again = false) {
    window.clearTimeout(rec.notifyTimer);
    if ((rec.notified && !again) || rec.status !== "ringing" || rec.withdrawn || rec.ringStopped || rec.dismissed) return;
    rec.notified = true;
    const { name, number } = label();
    rec.notifiedName = name;
    this.notify(rec.callId, name, number, focus);
  }

  /** A desktop notification, replaced (same tag) if the caller's name arrives later. */
  /** @param {string} callId @param {string} title @param {string} body @param {() => void} onClick */
  notify(callId, title, body, onClick) {
    if (!this.enabled("notifications") || !("Notification" in window) || Notification.permission !== "granted") return false;
    try {
      /** @type {NotificationOptions & {renotify?: boolean}} */
      const options = { body, tag: `screenpop-${callId}`, renotify: false, requireInteraction: false };
      const note = new Notification(title, options);
      note.onclick = () => {
        window.focus();
        onClick();
        note.close();
      };
      this.notes.set(callId, note);
      return true;
    } catch (err) {
      return false; // e.g. Android Chrome, which only allows notifications from a service worker
    }
  }
}
