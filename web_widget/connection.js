// @ts-check
// The agent websocket client (SPEC section 5), with no DOM in it.
//
// It owns one socket at a time and the policy around it: hello/resume_from,
// heartbeat, jittered exponential back-off, which close codes are worth
// retrying, and keeping the token alive: the server closes a socket with 4401
// when its token's exp passes, so before then the client sends a `refresh`
// with a new token from the host's provider, or tells the agent to sign in
// again.  The element only sees `state` changes and parsed messages, so the
// reconnect rules can be read (and changed) in one place.

/** Close codes from the server and what the client does about them. */
export const CLOSE = Object.freeze({
  SERVER_RESTART: 1012, // reconnect promptly, elsewhere if behind a balancer
  BAD_HELLO: 4400, // our bug or a proxy mangling frames: back off and retry
  UNAUTHORIZED: 4401, // token missing, bad or expired: stop (one fresh-token retry with a provider)
  FORBIDDEN_ORIGIN: 4403, // this page's origin is not allowed: retrying cannot help
  HELLO_TIMEOUT: 4408, // hello came too late (slow token provider): back off and retry
});

const DEFAULTS = Object.freeze({
  heartbeatMs: 20000, // ping interval; proxies commonly drop sockets idle for 30-60 s
  pongTimeoutMs: 10000, // no frame at all this long after a ping: the socket is dead
  backoffBaseMs: 500,
  backoffMaxMs: 15000, // a call rings ~20 s: waiting longer than that between tries loses calls
  restartDelayMs: 400, // upper bound of the jitter after 1012, spreads a fleet's reconnects
  welcomeTimeoutMs: 15000, // socket opened (or not) but no welcome: give up on this attempt
  refreshLeadMs: 60000, // refresh this long before exp, or at 80% of what is left for short tokens
  refreshRetryMs: 5000, // the provider failed or gave no newer token: ask again this much later
  canRefreshToken: () => false,
  onExpiring: () => {}, // no provider: the agent must sign in again before this exp (ms)
  onAgentChange: () => {}, // the next hello signs in another agent: the last one's calls are not theirs
});

const MAX_TIMER_MS = 2 ** 31 - 1; // setTimeout fires at once for longer delays

/**
 * @typedef {object} ConnectionOptions
 * @property {() => string} getUrl
 * @property {() => Promise<string|null>} getToken
 * @property {(msg: Record<string, any>) => void} onMessage
 * @property {(state: string, info: Record<string, any>) => void} onState
 * @property {() => boolean} [canRefreshToken]
 * @property {(expMs: number) => void} [onExpiring]
 * @property {() => void} [onAgentChange]
 * @property {number} [heartbeatMs]
 * @property {number} [pongTimeoutMs]
 * @property {number} [backoffBaseMs]
 * @property {number} [backoffMaxMs]
 * @property {number} [restartDelayMs]
 * @property {number} [welcomeTimeoutMs]
 * @property {number} [refreshLeadMs]
 * @property {number} [refreshRetryMs]
 */

/**
 * Build the websocket URL from the `server` attribute (an http(s) origin, maybe with a path).
/**
 * @param {string|null|undefined} server
 * @param {{origin: string, href: string}} [page]  the page's location (window.location in a browser)
 */
export function wsUrl(server, page = globalThis.location) {
  const url = new URL(server || page.origin, page.href);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  url.pathname = url.pathname.replace(/\/+$/, "") + "/ws";
  url.search = "";
  url.hash = "";
  return url.toString();
}

/** A JWT's claims, read without verifying (the server verifies); an empty object if unreadable. */
/** @param {unknown} token @returns {Record<string, unknown>} */
function tokenClaims(token) {
  try {
    const part = String(token).split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const claims = JSON.parse(atob(part.padEnd(part.length + ((4 - (part.length % 4)) % 4), "=")));
    return claims && typeof claims === "object" ? claims : {};
  } catch (err) {
    return {};
  }
}

/** A JWT's `exp` in milliseconds, read without verifying (the server verifies); null if unreadable. */
/** @param {unknown} token @returns {number|null} */
export function tokenExpiry(token) {
  const exp = tokenClaims(token).exp;
  return typeof exp === "number" && Number.isFinite(exp) ? exp * 1000 : null;
}

/**
 * Whether `token` signs in another agent than `current` does (their `sub` claims differ).
 * The server refreshes a socket only with a token of its own agent (SPEC 5), so another
 * agent's token is a new session; tokens whose `sub` cannot be read are left to the server.
 * @param {unknown} token @param {unknown} current
 */
export function anotherAgent(token, current) {
  const [next, now] = [tokenClaims(token).sub, tokenClaims(current).sub];
  return typeof next === "string" && typeof now === "string" && next !== now;
}

/**
 * Whether `token` names another role than `current` does (a `role` claim added, dropped or changed).
 * A refresh may change the role, but `refreshed` says only `exp`: a new hello's welcome says the
 * role and the sections it sees, so the widget never shows one role's name or hints for another.
 * @param {unknown} token @param {unknown} current
 */
export function anotherRole(token, current) {
  const [next, now] = [tokenClaims(token), tokenClaims(current)];
  return Object.keys(now).length > 0 && Object.keys(next).length > 0 && next.role !== now.role;
}

/**
 * Whether event id `id` ("<ms>-<seq>") comes after `than`; an id that cannot be read counts as later
 * (the server's word is taken), and so does any id after none.
 * @param {string} id @param {string|null} than
 */
export function laterId(id, than) {
  const read = (/** @type {string|null} */ text) => {
    const m = /^([0-9]+)-([0-9]+)$/.exec(String(text));
    return m ? [BigInt(m[1]), BigInt(m[2])] : null;
  };
  const [a, b] = [read(id), read(than)];
  if (!a || !b) return true;
  return a[0] > b[0] || (a[0] === b[0] && a[1] > b[1]);
}

/** How long to wait before refreshing a token that expires at `expMs`: 60 s ahead, or at 80% of a short rest. */
/** @param {number} expMs @param {number} nowMs @param {number} [leadMs] */
export function refreshDelay(expMs, nowMs, leadMs = 60000) {
  const left = expMs - nowMs;
  return Math.max(0, left - Math.min(leadMs, left * 0.2));
}

/** Full jitter: a random delay in [d/2, d] where d doubles per failed attempt. */
/** @param {number} attempt  failed attempts so far @param {number} baseMs @param {number} maxMs @param {() => number} [random] */
export function backoffDelay(attempt, baseMs, maxMs, random = Math.random) {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 16));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

export class Connection {
  /** @param {ConnectionOptions} opts */
  constructor(opts) {
    this.opts = { ...DEFAULTS, ...opts };
    this.state = "connecting";
    /** @type {string|null} */
    this.lastEventId = null;
    this.attempt = 0;
    /** @type {WebSocket|null} */
    this.socket = null;
    /** @type {Set<number>} */
    this.timers = new Set();
    /** @type {number|null} */
    this.heartbeat = null;
    /** @type {number|null} */
    this.pingTimer = null;
    /** @type {number|undefined} */
    this.welcomeTimer = undefined;
    this.lastFrameAt = 0;
    this.openSeq = 0;
    this.stopped = true;
    this.freshTokenTried = false;
    /** @type {number|null} */
    this.nextRetryAt = null;
    /** @type {number|null} */
    this.lastCloseCode = null;
    this.everConnected = false;
    /** @type {string|null} the token this socket is living on (hello or last refresh) */
    this.token = null;
    /** @type {string|null} sent in a `refresh`, not yet confirmed by `refreshed` */
    this.pendingToken = null;
    /** @type {number|null} */
    this.expMs = null;
    /** @type {number|undefined} */
    this.refreshTimer = undefined;
    this.onOnline = () => {
      if (this.state === "reconnecting" && !this.socket) this.connectNow();
    };
  }

  start() {
    if (!this.stopped) return;
    this.stopped = false;
    window.addEventListener("online", this.onOnline);
    this.setState("connecting");
    this.open();
  }

  stop() {
    this.stopped = true;
    this.openSeq += 1;
    window.removeEventListener("online", this.onOnline);
    this.clearTimers();
    this.closeSocket(1000, "widget removed");
  }

  /** Retry at once, e.g. after the agent pressed "Retry now" or a new token was set. */
  connectNow() {
    if (this.stopped) return;
    this.clearTimers();
    this.closeSocket(1000, "reconnecting");
    this.openSeq += 1;
    this.attempt = 0;
    this.freshTokenTried = false;
    this.setState(this.everConnected ? "reconnecting" : "connecting");
    this.open();
  }

  /** @param {object} obj */
  send(obj) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) {
      this.socket.send(JSON.stringify(obj));
      return true;
    }
    return false;
  }

  /** Send `refresh` with `token`, or with a fresh one from the provider; false when not connected. */
  /** @param {string|null} [token] */
  async refresh(token = null) {
    if (this.state !== "connected") return false;
    const socket = this.socket;
    let fresh = token;
    if (!fresh) {
      try {
        fresh = await this.opts.getToken();
      } catch (err) {
        fresh = null; // the host's provider failed: asked again below, until exp
      }
    }
    if (socket !== this.socket || this.state !== "connected") return false;
    const exp = tokenExpiry(fresh);
    if (fresh && (anotherAgent(fresh, this.token) || anotherRole(fresh, this.token))) {
      // another agent (a refresh would be a 4401) or role (its welcome says what it sees): a new hello
      this.connectNow();
      return false;
    }
    if (!fresh || (!token && exp !== null && this.expMs !== null && exp <= this.expMs)) {
      this.retryRefresh();
      return false;
    }
    this.pendingToken = fresh;
    return this.send({ type: "refresh", token: fresh });
  }

  /** Arm the timer that keeps the token alive; a token without a readable exp is left to the server. */
  /** @param {number|null} expMs */
  planRefresh(expMs) {
    window.clearTimeout(this.refreshTimer);
    this.expMs = expMs;
    if (expMs === null) return;
    const due = Date.now() + refreshDelay(expMs, Date.now(), this.opts.refreshLeadMs);
    const arm = () => {
      this.refreshTimer = window.setTimeout(() => {
        if (Date.now() < due) return arm(); // a delay over setTimeout's limit, taken in steps
        if (this.opts.canRefreshToken()) this.refresh();
        else this.opts.onExpiring(expMs);
      }, Math.min(MAX_TIMER_MS, Math.max(0, due - Date.now())));
    };
    arm();
  }

  retryRefresh() {
    window.clearTimeout(this.refreshTimer);
    if (this.expMs === null || Date.now() + this.opts.refreshRetryMs >= this.expMs) return; // 4401 will tell
    this.refreshTimer = window.setTimeout(() => this.refresh(), this.opts.refreshRetryMs);
  }

  /** @param {string} state @param {Record<string, any>} [info] */
  setState(state, info = {}) {
    this.state = state;
    this.opts.onState(state, info);
  }

  async open() {
    const seq = (this.openSeq += 1);
    let token;
    try {
      token = await this.opts.getToken();
    } catch (err) {
      token = null;
    }
    if (this.stopped || seq !== this.openSeq) return; // superseded while the token was fetched
    if (!token) {
      this.setState("unauthorized", { reason: "no-token" });
      return;
    }
    if (anotherAgent(token, this.token)) {
      // the last agent's event ids are positions in their stream, not in this agent's
      this.lastEventId = null;
      this.opts.onAgentChange();
    }
    let socket;
    try {
      socket = new WebSocket(this.opts.getUrl());
    } catch (err) {
      this.scheduleRetry(null);
      return;
    }
    this.socket = socket;
    // A connect that hangs (captive portal, black-holed proxy) is treated as a drop.
    this.welcomeTimer = window.setTimeout(() => {
      if (socket === this.socket && this.state !== "connected") this.closed(socket, 4000);
    }, this.opts.welcomeTimeoutMs);
    this.token = token;
    socket.onopen = () => {
      // live_calls: a hello without resume_from is sent the calls still ringing for or held by this
      // agent (a reloaded tab); role_notices: a reload that changes the role says so (beyond SPEC 5)
      /** @type {{type: string, token: string, resume_from?: string, live_calls: boolean, role_notices: boolean}} */
      const hello = { type: "hello", token, live_calls: true, role_notices: true };
      if (this.lastEventId) hello.resume_from = this.lastEventId;
      socket.send(JSON.stringify(hello));
      this.startHeartbeat(socket);
    };
    socket.onmessage = (ev) => this.receive(socket, ev.data);
    socket.onclose = (ev) => this.closed(socket, ev.code);
    // onerror is always followed by onclose, which carries the code we act on.
  }

  /** @param {WebSocket} socket @param {unknown} raw */
  receive(socket, raw) {
    if (socket !== this.socket) return;
    this.lastFrameAt = Date.now();
    let msg;
    try {
      msg = JSON.parse(String(raw));
    } catch (err) {
      return; // a frame we cannot read is ignored rather than killing the session
    }
    if (!msg || typeof msg !== "object") return;
    if (typeof msg.event_id === "string" && msg.event_id) {
      // the welcome says where this socket stands; the frames sent after it (a replay, a fresh tab's
      // calls in progress) may be older than that, and resuming from them would get again what it had
      if (msg.type === "welcome" || laterId(msg.event_id, this.lastEventId)) this.lastEventId = msg.event_id;
    }
    if (msg.type === "welcome") {
      window.clearTimeout(this.welcomeTimer);
      this.attempt = 0;
      this.freshTokenTried = false;
      this.everConnected = true;
      this.planRefresh(tokenExpiry(this.token));
      this.setState("connected", { welcome: msg });
    }
    if (msg.type === "refreshed") {
      this.token = this.pendingToken || this.token;
      this.planRefresh(typeof msg.exp === "number" ? msg.exp * 1000 : tokenExpiry(this.token));
    }
    if (msg.type !== "pong") this.opts.onMessage(msg);
  }

  /** @param {WebSocket} socket */
  startHeartbeat(socket) {
    this.stopHeartbeat();
    this.lastFrameAt = Date.now();
    this.pingTimer = window.setInterval(() => {
      if (socket === this.socket && socket.readyState === WebSocket.OPEN) socket.send('{"type":"ping"}');
    }, this.opts.heartbeatMs);
    // Half-open sockets never fire onclose on their own: no frame (not even a
    // pong) for a ping interval plus the grace time means the link is dead.
    this.heartbeat = window.setInterval(() => {
      if (socket !== this.socket) return;
      if (Date.now() - this.lastFrameAt > this.opts.heartbeatMs + this.opts.pongTimeoutMs) {
        this.closed(socket, 4000);
      }
    }, Math.max(250, Math.round(this.opts.pongTimeoutMs / 2)));
  }

  stopHeartbeat() {
    if (this.heartbeat) window.clearInterval(this.heartbeat);
    if (this.pingTimer) window.clearInterval(this.pingTimer);
    this.heartbeat = null;
    this.pingTimer = null;
  }

  /** @param {number} code @param {string} reason */
  closeSocket(code, reason) {
    const socket = this.socket;
    window.clearTimeout(this.welcomeTimer);
    window.clearTimeout(this.refreshTimer);
    this.socket = null;
    this.stopHeartbeat();
    if (socket) {
      socket.onopen = socket.onmessage = socket.onclose = null;
      try {
        socket.close(code, reason);
      } catch (err) {
        /* already closing */
      }
    }
  }

  /** @param {WebSocket} socket @param {number} code */
  closed(socket, code) {
    if (socket !== this.socket) return;
    this.closeSocket(1000, "closed");
    this.lastCloseCode = code;
    if (this.stopped) return;
    if (code === CLOSE.FORBIDDEN_ORIGIN) {
      this.setState("forbidden-origin", { code });
      return;
    }
    if (code === CLOSE.UNAUTHORIZED) {
      // A host app's provider may hand out a fresh token; try that once, never in a loop.
      if (this.opts.canRefreshToken() && !this.freshTokenTried) {
        this.freshTokenTried = true;
        this.setState("reconnecting", { code, retryInMs: 0 });
        this.open();
        return;
      }
      this.setState("unauthorized", { code, reason: "rejected" });
      return;
    }
    this.scheduleRetry(code);
  }

  /** @param {number|null} code */
  scheduleRetry(code) {
    const prompt = code === CLOSE.SERVER_RESTART;
    const delay = prompt
      ? Math.round(Math.random() * this.opts.restartDelayMs)
      : backoffDelay(this.attempt, this.opts.backoffBaseMs, this.opts.backoffMaxMs);
    this.attempt = prompt ? 0 : this.attempt + 1;
    this.nextRetryAt = Date.now() + delay;
    this.setState("reconnecting", { code, retryInMs: delay, retryAt: this.nextRetryAt });
    const timer = window.setTimeout(() => {
      this.timers.delete(timer);
      if (!this.stopped && !this.socket) this.open();
    }, delay);
    this.timers.add(timer);
  }

  clearTimers() {
    for (const t of this.timers) window.clearTimeout(t);
    this.timers.clear();
  }
}
