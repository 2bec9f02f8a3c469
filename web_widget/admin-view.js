// @ts-check
// The IT console's DOM: the admin API's answers drawn into the page's fixed parts (admin.html).
// What to show is decided in admin-model.js (no DOM, unit-tested); this module only builds nodes
// with h() (textContent, never HTML), and draws the test lookup's card with the widget's own
// renderers and stylesheet, so IT sees the card exactly as an agent's widget draws it.

import {
  connectorRows,
  connectorState,
  deliveryRow,
  failure,
  feedbackRows,
  instances,
  latencyBars,
  latencyScale,
  lookupPath,
  msText,
  plainText,
  Poller,
  providerRows,
  queueRows,
  REFRESH_MS,
  DELIVERIES_SHOWN,
  reloadText,
  traceView,
} from "./admin-model.js";
import { h } from "./dom.js";
import { Formatter } from "./format.js";
import { renderBadges, renderCaller, renderSection } from "./render.js";
import { applyStyles } from "./styles.js";

/** @typedef {Record<string, any>} Json */

/**
 * The console for one admin token: polls the status and deliveries, runs test lookups and reloads.
 * `parts` are the page's fixed containers (by id); `onSignOut` is called on a 401, a 403 or "Sign out".
 */
export class AdminConsole {
  /**
   * @param {string} token
   * @param {Record<string, HTMLElement>} parts
   * @param {(message: string, forbidden?: boolean) => void} onSignOut  `forbidden`: the message is a 403's
   */
  constructor(token, parts, onSignOut) {
    this.token = token;
    this.parts = parts;
    this.onSignOut = onSignOut;
    this.fmt = new Formatter(null, null);
    /** @type {Json|null} */
    this.status = null;
    this.stopped = false;
    this.poller = new Poller(() => this.refresh(), REFRESH_MS, {
      setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
      clearTimeout: (id) => globalThis.clearTimeout(id),
      hidden: () => document.visibilityState === "hidden",
    });
    this.listening = new AbortController(); // every listener of this console goes with stop()
  }

  start() {
    const signal = this.listening.signal;
    document.addEventListener("visibilitychange", () => this.poller.visibilityChanged(), { signal });
    this.parts.lookupForm.addEventListener(
      "submit",
      (ev) => {
        ev.preventDefault();
        this.testLookup();
      },
      { signal },
    );
    this.parts.reload.addEventListener("click", () => this.reload(), { signal });
    this.poller.start();
  }

  stop() {
    this.stopped = true;
    this.poller.stop();
    this.listening.abort();
  }

  /**
   * One request with the token; a 401 signs out, a 403 shows "not allowed" and stops the polling.
   * @param {string} path @param {RequestInit} [init]
   * @returns {Promise<{ok: boolean, status: number, body: Json|null}>}
   */
  async call(path, init = {}) {
    let resp;
    try {
      resp = await fetch(path, { ...init, headers: { Authorization: `Bearer ${this.token}` }, cache: "no-store" });
    } catch {
      this.showProblem("The server cannot be reached; retrying.");
      return { ok: false, status: 0, body: null };
    }
    /** @type {Json|null} */
    let body = null;
    try {
      body = await resp.json();
    } catch {
      body = null;
    }
    if (resp.status === 401) {
      this.stop();
      this.onSignOut(failure(401, body).text);
    }
    return { ok: resp.ok, status: resp.status, body };
  }

  /** @param {string} text */
  showProblem(text) {
    this.parts.problem.textContent = text;
    this.parts.problem.hidden = !text;
  }

  async refresh() {
    const [status, deliveries] = await Promise.all([
      this.call("/api/admin/status"),
      this.call(`/api/admin/deliveries?limit=${DELIVERIES_SHOWN}`),
    ]);
    if (this.stopped) return;
    if (!status.ok || !status.body) {
      if (status.status === 403) return this.forbidden(failure(403, status.body).text);
      if (status.status) this.showProblem(failure(status.status, status.body).text);
      return;
    }
    this.showProblem("");
    this.status = status.body;
    this.drawStatus(status.body);
    if (deliveries.ok && deliveries.body) this.drawDeliveries(deliveries.body.deliveries || []);
    this.parts.updated.textContent = `Updated ${new Date().toLocaleTimeString()}`;
  }

  /** The role may not use the console: say so, and hand back to the page's sign-in form. @param {string} text */
  forbidden(text) {
    this.stop();
    this.onSignOut(text, true);
  }

  /** @param {Json} status */
  drawStatus(status) {
    const views = instances(status);
    const names = views.map(([name]) => name);
    const several = views.length > 1;
    this.parts.instances.textContent = several ? `${views.length} instances: ${names.join(", ")}` : `Instance ${names[0]}`;
    const config = status.config || {};
    this.parts.config.textContent = plainText(`Config ${config.source || "?"} loaded ${config.loaded_at || "?"}`);
    this.drawConnectors(views);
    this.drawProviders(views);
    this.drawAgents(views);
    this.drawParts(views);
    this.drawFeedback(views);
    this.drawRoles(status);
  }

  /** @param {[string, Json][]} views */
  drawConnectors(views) {
    const scale = latencyScale(views.map(([, v]) => v));
    const head = h("tr", null, h("th", { scope: "col", text: "Connector" }), ...views.map(([name]) => h("th", { scope: "col", text: views.length > 1 ? name : "State, latency (last 5 min), calls" })));
    const rows = connectorRows(views).map((row) =>
      h(
        "tr",
        { "data-testid": "connector-row", "data-connector": row.name },
        h("th", { scope: "row", text: row.name }),
        ...row.cells.map((cell, i) => connectorCell(cell, scale, views[i][0])),
      ),
    );
    this.parts.connectors.replaceChildren(h("table", { class: "grid" }, h("thead", null, head), h("tbody", null, ...rows)));
  }

  /** @param {[string, Json][]} views */
  drawProviders(views) {
    const rows = providerRows(views).map((p) =>
      h(
        "tr",
        { "data-testid": "provider-row", "data-provider": p.name },
        h("th", { scope: "row", text: p.name }),
        h("td", { class: "num", "data-testid": "provider-accepted", text: String(p.accepted) }),
        h("td", { class: `num ${p.refused ? "bad" : ""}`, "data-testid": "provider-refused", text: String(p.refused) }),
        h("td", { class: "free", "data-testid": "provider-last-refusal", text: p.last ? `${p.last.reason || p.last.code} (${shortTime(p.last.at)})` : "—" }),
      ),
    );
    const head = h("tr", null, ...["Provider", "Accepted", "Refused", "Last refusal: why"].map((t) => h("th", { scope: "col", text: t })));
    this.parts.providers.replaceChildren(rows.length ? h("table", { class: "grid" }, h("thead", null, head), h("tbody", null, ...rows)) : h("p", { class: "muted", text: "No webhook providers configured." }));
  }

  /** @param {Json[]} deliveries */
  drawDeliveries(deliveries) {
    const head = h("tr", null, ...["When (UTC)", "Provider", "Answer", "Outcome", "Why", "Event"].map((t) => h("th", { scope: "col", text: t })));
    const rows = deliveries.map((d) => {
      const r = deliveryRow(d);
      return h(
        "tr",
        { "data-testid": "delivery-row", "data-refused": r.refused ? "true" : "false", class: r.refused ? "bad" : "" },
        h("td", { class: "when", text: r.at }),
        h("td", { class: "free", text: r.provider }),
        h("td", { class: "num", text: r.status }),
        h("td", { text: r.code }),
        h("td", { class: "free", "data-testid": "delivery-reason", text: r.reason || "—" }),
        h("td", { class: "free", text: r.call || "—" }),
      );
    });
    this.parts.deliveries.replaceChildren(rows.length ? h("table", { class: "grid" }, h("thead", null, head), h("tbody", null, ...rows)) : h("p", { class: "muted", text: "No webhook delivery yet." }));
  }

  /** @param {[string, Json][]} views */
  drawAgents(views) {
    const totals = views.map(([name, v]) => `${views.length > 1 ? `${name}: ` : ""}${Number(v.agents_connected) || 0}`);
    this.parts.agentsTotal.textContent = `Agents connected: ${totals.join(", ")}`;
    const rows = queueRows(views).map((q) =>
      h("tr", { "data-testid": "queue-row", "data-queue": q.queue }, h("th", { scope: "row", text: q.label }), h("td", { class: "num", text: String(q.total) })),
    );
    this.parts.agents.replaceChildren(rows.length ? h("table", { class: "grid narrow" }, h("thead", null, h("tr", null, h("th", { text: "Queue" }), h("th", { text: "Online" }))), h("tbody", null, ...rows)) : h("p", { class: "muted", text: "No agent online." }));
  }

  /** Store, broker, phone links and sink backlogs per instance. @param {[string, Json][]} views */
  drawParts(views) {
    const lines = views.map(([name, v]) => {
      const bits = [["store", v.store], ["broker", v.broker]];
      for (const [link, state] of Object.entries(v.phone_links || {})) bits.push([`phone link ${link}`, state]);
      if (v.sinks && typeof v.sinks === "object") {
        for (const [sink, s] of Object.entries(v.sinks)) bits.push([`sink ${sink}`, typeof s === "object" && s ? JSON.stringify(s) : String(s)]);
      }
      return h(
        "li",
        { "data-testid": "parts-line" },
        views.length > 1 ? h("strong", { text: `${name}: ` }) : null,
        ...bits.map(([label, value]) => h("span", { class: `part ${value === "ok" ? "good" : "bad"}`, text: `${label}: ${value}` })),
      );
    });
    this.parts.parts.replaceChildren(h("ul", { class: "plain" }, ...lines));
  }

  /** @param {[string, Json][]} views */
  drawFeedback(views) {
    const rows = feedbackRows(views);
    this.parts.feedbackBox.hidden = rows.length === 0;
    this.parts.feedback.replaceChildren(
      h("table", { class: "grid narrow" }, h("thead", null, h("tr", null, ...["Section", "Accepted", "Declined"].map((t) => h("th", { text: t })))), h("tbody", null, ...rows.map(([s, a, d]) => h("tr", null, h("th", { text: s }), h("td", { class: "num", text: String(a) }), h("td", { class: "num", text: String(d) }))))),
    );
  }

  /** The role chooser of the test lookup, kept as chosen across refreshes. @param {Json} status */
  drawRoles(status) {
    const select = /** @type {HTMLSelectElement} */ (this.parts.role);
    const roles = Array.isArray(status.roles) ? status.roles.map(String) : [];
    const have = [...select.options].map((o) => o.value).filter(Boolean);
    if (roles.join() === have.join()) return;
    const chosen = select.value;
    select.replaceChildren(h("option", { value: "", text: "(my own role)" }), ...roles.map((r) => h("option", { value: r, text: r })));
    if (roles.includes(chosen)) select.value = chosen;
  }

  async testLookup() {
    const form = this.parts.lookupForm;
    const number = /** @type {HTMLInputElement} */ (form.querySelector("[name=number]")).value;
    const role = /** @type {HTMLSelectElement} */ (this.parts.role).value;
    const attributes = /** @type {HTMLInputElement} */ (form.querySelector("[name=attributes]")).value;
    const { path, error } = lookupPath(number, role, attributes);
    const out = this.parts.lookupResult;
    if (error) {
      out.replaceChildren(h("p", { class: "error", role: "alert", "data-testid": "lookup-error", text: error }));
      return;
    }
    out.replaceChildren(h("p", { class: "muted", text: "Looking up…" }));
    const answer = await this.call(path);
    if (!answer.ok || !answer.body) {
      out.replaceChildren(h("p", { class: "error", role: "alert", "data-testid": "lookup-error", text: failure(answer.status, answer.body).text }));
      return;
    }
    out.replaceChildren(this.cardNode(answer.body), traceNode(answer.body.trace || {}));
  }

  /** The card as the widget draws it, in a shadow root with the widget's own stylesheet. @param {Json} card */
  cardNode(card) {
    const host = h("div", { class: "card-host", "data-testid": "lookup-card" });
    const shadow = host.attachShadow({ mode: "open" });
    applyStyles(shadow);
    const state = { expanded: new Set(), toggle: () => {} };
    /** @type {Record<string, Json>} */
    const meta = {};
    for (const m of Array.isArray(card.display) ? card.display : []) meta[m.name] = m;
    const sections = h("div", { class: "sections" }, ...Object.entries(card.sections || {}).map(([name, section]) => renderSection(name, meta[name] || null, section, this.fmt, state)));
    const badges = renderBadges(card);
    const title = card.as_role ? `As the role ${card.as_role} sees it` : "As your role sees it";
    shadow.append(h("div", { class: "root" }, h("article", { class: "card", "data-status": "ringing" }, h("div", { class: "card-top" }, h("span", { class: "pill", text: title })), renderCaller(card, { homeRegion: null }), badges, sections)));
    return host;
  }

  async reload() {
    const button = /** @type {HTMLButtonElement} */ (this.parts.reload);
    button.disabled = true;
    this.parts.reloadResult.textContent = "Reloading…";
    this.parts.reloadResult.dataset.state = "busy";
    const answer = await this.call("/api/admin/reload", { method: "POST" });
    button.disabled = false;
    if (answer.ok && answer.body) {
      this.parts.reloadResult.textContent = reloadText(answer.body);
      this.parts.reloadResult.dataset.state = "ok";
      await this.refresh();
    } else {
      this.parts.reloadResult.textContent = `Not reloaded, the running config stays: ${failure(answer.status, answer.body).text}`;
      this.parts.reloadResult.dataset.state = "error";
    }
  }
}

/**
 * One connector on one instance: state chip, latency bars, counts and last error.
 * @param {Json|undefined} c @param {number} scale @param {string} instance
 */
function connectorCell(c, scale, instance) {
  if (!c) return h("td", { class: "muted", text: "not on this instance" });
  const state = connectorState(c);
  const bars = latencyBars(c, scale).map((b) => {
    const fill = h("span", { class: `fill ${b.label}` });
    fill.style.width = `${b.pct}%`; // through the CSSOM: the page's CSP refuses style attributes
    return h(
      "div",
      { class: "bar-row" },
      h("span", { class: "bar-label", text: b.label }),
      h("span", { class: "bar" }, fill),
      h("span", { class: "bar-ms", "data-testid": `latency-${b.label}`, text: msText(b.ms) }),
    );
  });
  return h(
    "td",
    { "data-instance": instance },
    h("span", { class: `chip ${state.level}`, "data-testid": "connector-state", "data-state": c.state, text: state.word }),
    h("span", { class: "health", "data-testid": "connector-health", text: state.detail }),
    h("div", { class: "bars" }, ...bars),
    h("div", { class: "counts", "data-testid": "connector-counts", text: `calls ${c.calls ?? 0} · errors ${c.errors ?? 0} · timeouts ${c.timeouts ?? 0}` }),
    c.last_error ? h("div", { class: "last-error", "data-testid": "connector-last-error", text: `last error: ${c.last_error}` }) : null,
  );
}

/** Each connector's trace, open for those that did not answer ok. @param {Json} trace */
function traceNode(trace) {
  const items = Object.entries(trace).map(([name, entry]) => {
    const view = traceView(name, entry);
    const details = h(
      "details",
      { class: "trace", "data-testid": "trace", "data-connector": name, "data-status": entry.status, open: entry.status !== "ok" },
      h("summary", { text: view.headline }),
      view.why ? h("p", { class: "why", "data-testid": "trace-why", text: view.why }) : null,
      ...view.steps.map((s) => h("div", { class: "step" }, h("div", { class: "step-title", text: s.title }), h("pre", { "data-testid": "trace-step", text: s.lines.join("\n") }))),
      ...view.notes.map((n) => h("p", { class: "note", text: `note: ${n}` })),
    );
    return details;
  });
  return h("div", { class: "traces" }, h("h3", { text: "Trace (each connector run afresh, without the cache)" }), ...items);
}

/** @param {unknown} at */
function shortTime(at) {
  return typeof at === "string" ? at.replace("T", " ").replace(/\.\d+/, "").replace("+00:00", "Z") : "";
}
