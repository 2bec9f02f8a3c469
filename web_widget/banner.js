// @ts-check
// What the connection banner tells the agent, for each connection state: pure text, no DOM.

/** @typedef {"connecting"|"connected"|"reconnecting"|"unauthorized"|"forbidden-origin"} ConnectionState */
/** @typedef {{state?: string, reason?: string, code?: number|null, retryAt?: number}} StateInfo */

/**
 * The banner's sentence; "" when connected.
 * @param {StateInfo} info  the last state change and its details
 * @param {number} now  ms since the epoch
 * @param {string} origin  this page's origin, named when it is not allowed
 */
export function bannerMessage(info, now, origin) {
  switch (info.state) {
    case "connecting":
      return "Connecting to screenpop…";
    case "reconnecting": {
      const secs = info.retryAt ? Math.ceil((info.retryAt - now) / 1000) : 0;
      return secs > 0 ? `Disconnected — reconnecting in ${secs} s…` : "Disconnected — reconnecting…";
    }
    case "unauthorized":
      return info.reason === "no-token"
        ? "Sign-in needed: no agent token was given to this widget."
        : "Sign-in needed: the server rejected this agent token (expired or not valid). Sign in again to receive calls.";
    case "forbidden-origin":
      return `This page's origin (${origin}) is not allowed to connect to screenpop. An administrator must add it to server.allowed_origins.`;
    default:
      return "";
  }
}

/** A state the agent must act on (sign in, ask an administrator) rather than wait out. @param {string|undefined} state */
export function needsAction(state) {
  return state === "unauthorized" || state === "forbidden-origin";
}
