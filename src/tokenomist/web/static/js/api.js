// The session (tokens kept per tab in sessionStorage, so a reload stays signed in and a closed
// tab forgets them) and every HTTP call: Bearer header, one refresh-and-retry on 401, and a
// distinct error when the server cannot be reached at all.

const KEY = "tokenomist.session";
const listeners = new Set();
let session = load();
let refreshing = null;
let refreshTimer = null;

function load() {
  try { return JSON.parse(sessionStorage.getItem(KEY)) || null; } catch { return null; }
}

export const current = () => session;
export const onSessionChange = (fn) => listeners.add(fn);

export function setSession(pair) {
  if (pair) {
    session = {
      access_token: pair.access_token,
      refresh_token: pair.refresh_token,
      user: pair.user,
      // refresh a minute early so a long page never sends an expired token
      refresh_at: Date.now() + Math.max(10, (pair.expires_in || 900) - 60) * 1000,
    };
    sessionStorage.setItem(KEY, JSON.stringify(session));
  } else {
    session = null;
    sessionStorage.removeItem(KEY);
  }
  scheduleRefresh();
  listeners.forEach((fn) => fn(session));
}

function scheduleRefresh() {
  clearTimeout(refreshTimer);
  if (!session) return;
  refreshTimer = setTimeout(() => refresh().catch(() => {}), Math.max(0, session.refresh_at - Date.now()));
}
scheduleRefresh();

export class Unreachable extends Error {}
export class ApiError extends Error {
  constructor(status, body) {
    const e = body && body.error;
    super(e ? e.message : `HTTP ${status}`);
    this.status = status;
    this.code = e ? e.code : "http_error";
    this.details = e ? e.details : undefined;
  }
}

// The refresh token rotates: concurrent callers share one refresh.
export function refresh() {
  if (!session) return Promise.reject(new ApiError(401, null));
  if (!refreshing) {
    const token = session.refresh_token;
    refreshing = send("/auth/refresh", { method: "POST", json: { refresh_token: token } }, false)
      .then((pair) => { setSession(pair); return pair; })
      .catch((err) => { if (err instanceof ApiError) setSession(null); throw err; })
      .finally(() => { refreshing = null; });
  }
  return refreshing;
}

async function send(path, opts = {}, auth = true) {
  const headers = { ...(opts.headers || {}) };
  let body = opts.body;
  if (opts.json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(opts.json);
  }
  if (auth && session) headers.Authorization = `Bearer ${session.access_token}`;
  let res;
  try {
    res = await fetch(path, { method: opts.method || "GET", headers, body, signal: opts.signal });
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new Unreachable(`cannot reach the server (${err.message})`);
  }
  if (res.status === 204) return null;
  const data = await res.json().catch(() => undefined);
  if (data === undefined && [502, 503, 504].includes(res.status)) {
    throw new Unreachable(`the server is unavailable (HTTP ${res.status} from a proxy)`);
  }
  if (!res.ok) throw new ApiError(res.status, data);
  if (data === undefined) throw new ApiError(res.status, { error: { code: "not_json", message: `not a JSON answer (HTTP ${res.status})` } });
  return data;
}

export async function api(path, opts = {}) {
  try {
    return await send(path, opts);
  } catch (err) {
    if (err instanceof ApiError && err.status === 401 && session) {
      await refresh();
      return send(path, opts);
    }
    throw err;
  }
}

export async function signIn(email, password, register = false) {
  const pair = await send(register ? "/auth/register" : "/auth/login",
    { method: "POST", json: { email, password } }, false);
  setSession(pair);
  return pair;
}

export async function signOut() {
  // The server refuses this access token from now on; the tab forgets both tokens either way.
  try { if (session) await send("/auth/logout", { method: "POST" }); } catch { /* offline */ }
  setSession(null);
}

export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (Array.isArray(v)) v.forEach((x) => q.append(k, x));
    else if (v !== undefined && v !== null && v !== "") q.append(k, v);
  }
  const s = q.toString();
  return s ? `?${s}` : "";
}
