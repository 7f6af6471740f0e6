// Ask: the chat over /ws with the live agent timeline, thread history in a sidebar, cancel,
// and a run that survives a dropped socket or a reload (resumed from its last seq).
import { $, esc } from "../util.js";
import { api } from "../api.js";
import { RunSocket } from "../socket.js";
import { Timeline } from "../timeline.js";
import { renderReport } from "../report.js";

const ACTIVE = "tokenomist.activeRun"; // {run_id, thread_id} of the run this tab follows
const TERMINAL = new Set(["completed", "failed", "cancelled"]);

export async function render(main, ctx) {
  main.innerHTML = `
    <div class="ask-layout">
      <aside class="threads" aria-labelledby="threads-title">
        <h2 id="threads-title">Conversations</h2>
        <button type="button" id="new-thread" class="secondary">New conversation</button>
        <ul id="thread-list" class="thread-list"></ul>
      </aside>
      <section class="conversation" aria-labelledby="ask-title">
        <h1 id="ask-title">Ask</h1>
        <p id="conn" class="muted" role="status"></p>
        <div id="messages"></div>
        <form id="ask" class="ask">
          <label for="q" class="sr-only">Question</label>
          <input id="q" name="q" value="How can we cut our AI spend?" required autocomplete="off">
          <button type="submit" id="ask-submit">Ask</button>
          <button type="button" id="cancel" class="secondary" hidden>Cancel</button>
        </form>
      </section>
    </div>`;
  let threadId = ctx.params().get("thread");
  let active = null; // {runId, timeline}
  const timelines = new Map();
  const messages = $("#messages");

  const setBusy = (busy) => {
    $("#ask-submit").disabled = busy;
    $("#cancel").hidden = !busy;
  };
  const timelineFor = (runId) => {
    if (!timelines.has(runId)) timelines.set(runId, new Timeline(messages, runId));
    return timelines.get(runId);
  };
  const finish = () => {
    active = null;
    sessionStorage.removeItem(ACTIVE);
    setBusy(false);
    loadThreads().catch(() => {});
  };

  const onEvent = (event) => {
    if (event.type === "connection_established") return;
    if (!event.run_id) {
      if (event.type === "error") {
        messages.insertAdjacentHTML("beforeend",
          `<p class="error" role="alert">${esc(event.data.message)} (${esc(event.data.code)})</p>`);
        if (!active || event.data.code === "not_found") finish();
      }
      return;
    }
    if (event.type === "error") {
      messages.insertAdjacentHTML("beforeend",
        `<p class="error" role="alert">${esc(event.data.message)} (${esc(event.data.code)})</p>`);
      if (event.data.code === "events_expired" || event.data.code === "not_found") {
        // the steps are gone but the run's result is kept: show that instead
        socket.unfollow(event.run_id);
        api(`/api/v1/runs/${encodeURIComponent(event.run_id)}`).then((run) => {
          if (run.content) renderReport(messages, run);
        }).catch(() => {}).finally(finish);
      }
      return;
    }
    const timeline = timelineFor(event.run_id);
    if (event.type === "run_started") {
      threadId = event.data.thread_id;
      active = { runId: event.run_id };
      sessionStorage.setItem(ACTIVE, JSON.stringify({ run_id: event.run_id, thread_id: threadId }));
      ctx.setParams({ thread: threadId });
      setBusy(true);
      loadThreads().catch(() => {});
    }
    if (event.type === "assistant_message") {
      const report = renderReport(messages, event.data, event.seq);
      report.scrollIntoView({ block: "start" }); // open the answer at its headline
      return;
    }
    timeline.add(event);
    if (event.type === "run_completed" || event.type === "run_failed") finish();
  };

  const socket = new RunSocket({
    onEvent,
    onStatus: (status, info) => {
      if (status === "down" && active && !active.runId) {
        // the question left just as the socket dropped: whether the run started is unknown
        // here, so say so and let the conversation list show it
        messages.insertAdjacentHTML("beforeend", `<p class="error" role="alert">The connection
          dropped as the question was sent; if it started, it is under Conversations.</p>`);
        finish();
      }
      const conn = $("#conn");
      conn.dataset.state = status;
      conn.textContent = status === "open" ? (socket.reconnects ? `Reconnected (${socket.reconnects}×); the run resumed where it stopped.` : "Connected.")
        : status === "down" ? `Connection lost (code ${info.code}); reconnecting in ${(info.retryIn / 1000).toFixed(1)} s…`
          : status === "signed-out" ? "Your session ended; sign in again." : "Connecting…";
    },
  });

  async function loadThreads() {
    const threads = await api("/api/v1/threads");
    $("#thread-list").innerHTML = threads.map((t) => `<li><a href="/ask?thread=${encodeURIComponent(t.id)}"
      data-thread="${esc(t.id)}"${t.id === threadId ? ' aria-current="page"' : ""}>${esc(t.title || "Untitled")}
      <small>${esc(new Date(t.updated_at).toLocaleString())}</small></a></li>`).join("")
      || `<li class="muted">No conversations yet.</li>`;
  }

  async function loadThread(id) {
    messages.replaceChildren();
    timelines.clear();
    if (!id) return;
    const history = await api(`/api/v1/threads/${encodeURIComponent(id)}/messages`);
    for (const m of history) {
      if (m.role === "user") {
        messages.insertAdjacentHTML("beforeend", `<div class="msg user">${esc(m.content)}</div>`);
      } else {
        renderReport(messages, m);
      }
    }
  }

  // A run this tab was following before a reload: if it is still going, replay it from the
  // start (the timeline was lost with the page) and follow it live.
  async function resumeStored() {
    const stored = JSON.parse(sessionStorage.getItem(ACTIVE) || "null");
    if (!stored || (threadId && stored.thread_id !== threadId)) return;
    const run = await api(`/api/v1/runs/${encodeURIComponent(stored.run_id)}`).catch(() => null);
    if (!run || TERMINAL.has(run.status)) { sessionStorage.removeItem(ACTIVE); return; }
    if (!threadId) { threadId = stored.thread_id; ctx.setParams({ thread: threadId }); await loadThread(threadId); }
    active = { runId: stored.run_id };
    setBusy(true);
    socket.follow(stored.run_id, 0);
  }

  $("#ask").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const q = $("#q").value.trim();
    if (!q || active) return;
    messages.insertAdjacentHTML("beforeend", `<div class="msg user">${esc(q)}</div>`);
    setBusy(true);
    active = { runId: null };
    socket.ask(q, threadId);
  });
  $("#cancel").addEventListener("click", () => { if (active && active.runId) socket.cancel(active.runId); });
  $("#new-thread").addEventListener("click", () => {
    threadId = null;
    ctx.setParams({});
    messages.replaceChildren();
    timelines.clear();
    loadThreads().catch(() => {});
    $("#q").focus();
  });
  $("#thread-list").addEventListener("click", (ev) => {
    const a = ev.target.closest("a[data-thread]");
    if (!a) return;
    ev.preventDefault();
    ev.stopPropagation();
    if (active) return; // one run at a time in this view
    threadId = a.dataset.thread;
    ctx.setParams({ thread: threadId });
    loadThread(threadId).then(loadThreads).catch(ctx.fail);
  });

  await Promise.all([loadThreads(), loadThread(threadId)]);
  socket.start();
  await resumeStored();
  $("#q").focus();
  window.tokenomistAsk = { socket }; // for diagnostics from the console
  return () => { socket.stop(); delete window.tokenomistAsk; };
}
