// The /ws client (protocol tokenomist.v1). The access token travels as a "bearer.<jwt>"
// subprotocol entry, never in the URL. It keeps the socket alive with pings (the server closes
// an idle one with 4408), reconnects with backoff when it drops, and resumes every run it
// follows from the last seq it handled, so each event is delivered to `onEvent` exactly once.
import * as api from "./api.js";

const PING_MS = 25_000;
const BACKOFF_MS = [250, 500, 1000, 2000, 4000, 8000, 15000];

export class RunSocket {
  constructor({ onEvent, onStatus }) {
    this.onEvent = onEvent;
    this.onStatus = onStatus || (() => {});
    this.runs = new Map(); // run_id → last seq handled (followed until terminal)
    this.ws = null;
    this.attempt = 0;
    this.stopped = false;
    this.queue = []; // frames sent while disconnected go out on the next open
    this.pinger = null;
    this.retry = null;
    this.reconnects = 0;
  }

  start() {
    this.stopped = false;
    this.connect();
  }

  connect() {
    const session = api.current();
    if (!session || this.stopped) return;
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const token = session.access_token;
    const ws = new WebSocket(`${scheme}://${location.host}/ws`, ["tokenomist.v1", `bearer.${token}`]);
    this.ws = ws;
    this.onStatus(this.attempt ? "reconnecting" : "connecting");
    ws.onopen = () => {
      if (this.attempt) this.reconnects += 1;
      this.attempt = 0;
      this.onStatus("open");
      for (const [run_id, after_seq] of this.runs) this.raw({ type: "resume", run_id, after_seq });
      this.queue.splice(0).forEach((frame) => this.raw(frame));
      clearInterval(this.pinger);
      this.pinger = setInterval(() => this.raw({ type: "ping" }), PING_MS);
    };
    ws.onmessage = (msg) => this.receive(msg.data);
    ws.onclose = (ev) => this.closed(ws, ev);
  }

  receive(text) {
    let event;
    try { event = JSON.parse(text); } catch { return; }
    if (event.type === "pong") return;
    if (event.run_id && typeof event.seq === "number") {
      const last = this.runs.get(event.run_id);
      if (last !== undefined && event.seq <= last) return; // a replay overlapping what we had
      this.runs.set(event.run_id, event.seq);
      if (event.type === "run_completed" || event.type === "run_failed") this.runs.delete(event.run_id);
    }
    this.onEvent(event);
  }

  async closed(ws, ev) {
    if (ws !== this.ws) return;
    clearInterval(this.pinger);
    this.ws = null;
    if (this.stopped) return;
    const session = api.current();
    // A refused handshake reaches the page only as 1006, so a token that may have expired
    // while the socket was down (a sleeping laptop, a throttled background tab) is renewed
    // before trying again, as after an explicit 4401.
    const stale = !session || Date.now() >= session.refresh_at || this.attempt >= 2;
    if (ev.code === 4401 || ev.code === 1008 || ev.code === 4403 || (ev.code === 1006 && stale)) {
      try {
        await api.refresh();
      } catch (err) {
        if (!(err instanceof api.Unreachable)) { this.onStatus("signed-out"); return; }
      }
    }
    const delay = BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)];
    this.attempt += 1;
    this.onStatus("down", { code: ev.code, retryIn: delay });
    clearTimeout(this.retry);
    this.retry = setTimeout(() => this.connect(), delay * (0.8 + Math.random() * 0.4));
  }

  raw(frame) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(frame));
    else this.queue.push(frame);
  }

  follow(runId, afterSeq = 0) {
    if (!this.runs.has(runId)) {
      this.runs.set(runId, afterSeq);
      if (this.ws && this.ws.readyState === WebSocket.OPEN) this.raw({ type: "resume", run_id: runId, after_seq: afterSeq });
    }
  }

  unfollow(runId) { this.runs.delete(runId); }

  lastSeq(runId) { return this.runs.get(runId); }

  ask(content, threadId) {
    const frame = { type: "user_message", content, client_message_id: messageId() };
    if (threadId) frame.thread_id = threadId;
    this.raw(frame);
  }

  cancel(runId) { this.raw({ type: "cancel", run_id: runId }); }

  stop() {
    this.stopped = true;
    clearInterval(this.pinger);
    clearTimeout(this.retry);
    if (this.ws) this.ws.close(1000, "page closed");
    this.ws = null;
  }
}

// crypto.randomUUID exists only in secure contexts (https, localhost); plain http elsewhere
// still needs an id.
function messageId() {
  if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
  return `m-${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
}
