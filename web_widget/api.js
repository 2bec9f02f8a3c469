// @ts-check
// screenpop's HTTP API as the widget uses it: saving notes, answering suggestions, listing recent calls.
//
// No DOM: each call answers {ok, status, message} (or the calls), never throws (a failing token
// provider included), so the element can show the agent what went wrong.  `fetch` and the page URL are injectable for tests.

/** @typedef {{ok: boolean, status: number, message: string}} ApiResult  status 0: the server could not be reached */
/** @typedef {(input: URL, init?: RequestInit) => Promise<Response>} Fetch */

/**
 * `path` under the `server` base (which may carry a path of its own), resolved against the page.
 * @param {string} server
 * @param {string} path  relative, no leading slash
 * @param {string} [page]
 */
export function apiUrl(server, path, page = globalThis.location ? globalThis.location.href : undefined) {
  const base = server.replace(/\/+$/, "") + "/";
  return new URL(path, new URL(base, page));
}

/**
 * The SPEC's error shape {"error": {"code", "message"}}, or a plain sentence for anything else.
 * @param {Response} resp
 */
export async function errorMessage(resp) {
  try {
    const data = await resp.json();
    if (data && data.error && data.error.message) return String(data.error.message).replace(/\.?$/, ".");
  } catch (err) {
    /* not JSON: fall through */
  }
  return resp.status === 401 ? "Your sign-in has expired." : `The server answered ${resp.status}.`;
}

const UNREACHABLE = "The server could not be reached.";

/**
 * POST a JSON body to `path` with the agent's Bearer token.
 * @param {{server: string, getToken: () => Promise<string|null>, path: string, body: string, fetch?: Fetch}} req
 * @returns {Promise<ApiResult>}
 */
async function postJson(req) {
  const { result } = await postJsonReply(req);
  return result;
}

/**
 * `postJson`, also handing back the parsed answer of a successful post (null when it is not JSON).
 * @param {{server: string, getToken: () => Promise<string|null>, path: string, body: string, fetch?: Fetch}} req
 * @returns {Promise<{result: ApiResult, reply: unknown}>}
 */
async function postJsonReply({ server, getToken, path, body, fetch = globalThis.fetch }) {
  try {
    const token = await getToken();
    const resp = await fetch(apiUrl(server, path), {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${token || ""}` },
      body,
      credentials: "omit",
    });
    if (resp.ok) return { result: { ok: true, status: resp.status, message: "" }, reply: await resp.json().catch(() => null) };
    return { result: { ok: false, status: resp.status, message: await errorMessage(resp) }, reply: null };
  } catch (err) {
    return { result: { ok: false, status: 0, message: UNREACHABLE }, reply: null };
  }
}

/**
 * The note as the server stored it (card numbers masked) and how many card numbers it masked, from a save's answer.
 * @param {unknown} reply
 * @returns {{disposition: string|null, notes: string|null, masked: number} | null}
 */
export function storedNote(reply) {
  if (!reply || typeof reply !== "object") return null;
  const r = /** @type {Record<string, any>} */ (reply);
  const text = (/** @type {unknown} */ v) => (typeof v === "string" ? v : null);
  const count = r.masked && Number.isInteger(r.masked.card_numbers) ? r.masked.card_numbers : 0;
  return { disposition: text(r.disposition), notes: text(r.notes), masked: Math.max(0, count) };
}

/**
 * POST /api/calls/{id}/notes with an already serialised body; `stored` is the note as the server kept it
 * (card numbers masked to their last four digits), for the form to show instead of what was typed.
 * @param {{server: string, getToken: () => Promise<string|null>, callId: string, body: string, fetch?: Fetch}} req
 * @returns {Promise<ApiResult & {stored: ReturnType<typeof storedNote>}>}
 */
export async function postNotes({ callId, ...req }) {
  const { result, reply } = await postJsonReply({ ...req, path: `api/calls/${encodeURIComponent(callId)}/notes` });
  return { ...result, stored: result.ok ? storedNote(reply) : null };
}

/**
 * POST /api/calls/{id}/feedback: the agent's answer to a suggestion, already serialised.
 * @param {{server: string, getToken: () => Promise<string|null>, callId: string, body: string, fetch?: Fetch}} req
 * @returns {Promise<ApiResult>}
 */
export function postFeedback({ callId, ...req }) {
  return postJson({ ...req, path: `api/calls/${encodeURIComponent(callId)}/feedback` });
}

/**
 * GET /api/calls?limit=N: the agent's recent calls, or why they could not be had.
 * @param {{server: string, getToken: () => Promise<string|null>, limit?: number, fetch?: Fetch}} req
 * @returns {Promise<ApiResult & {calls: unknown[]}>}
 */
export async function fetchCalls({ server, getToken, limit = 20, fetch = globalThis.fetch }) {
  try {
    const token = await getToken();
    const url = apiUrl(server, `api/calls?limit=${limit}`);
    const resp = await fetch(url, { headers: { Authorization: `Bearer ${token || ""}` }, credentials: "omit" });
    if (!resp.ok) return { ok: false, status: resp.status, message: await errorMessage(resp), calls: [] };
    let data;
    try {
      data = await resp.json();
    } catch (err) {
      return { ok: false, status: resp.status, message: "The server's answer could not be read.", calls: [] };
    }
    return { ok: true, status: resp.status, message: "", calls: Array.isArray(data && data.calls) ? data.calls : [] };
  } catch (err) {
    return { ok: false, status: 0, message: UNREACHABLE, calls: [] };
  }
}
