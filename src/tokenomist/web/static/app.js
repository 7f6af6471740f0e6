// Tokenomist browser client: log in over HTTP, then chat over /ws (protocol tokenomist.v1,
// the access token carried as a "bearer.<jwt>" subprotocol entry, never in the URL).
"use strict";

const $ = (sel) => document.querySelector(sel);
let token = null;
let socket = null;

function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({
    "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;",
  })[c]);
}

// A small markdown subset: headings, tables, bullet and numbered lists, bold, code, paragraphs.
function renderMarkdown(md) {
  const out = [];
  const lines = md.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (/^\s*\|/.test(line)) {
      const rows = [];
      while (i < lines.length && /^\s*\|/.test(lines[i])) rows.push(lines[i++]);
      i--;
      const cells = (r) => r.trim().replace(/^\||\|$/g, "").split("|").map((c) => inline(c.trim()));
      const body = rows.filter((r) => !/^\s*\|[\s:|-]+\|\s*$/.test(r));
      const [head, ...rest] = body;
      out.push("<table><thead><tr>" + cells(head).map((c) => `<th>${c}</th>`).join("") +
        "</tr></thead><tbody>" + rest.map((r) => "<tr>" + cells(r).map((c) => `<td>${c}</td>`)
          .join("") + "</tr>").join("") + "</tbody></table>");
    } else if (/^#{1,4} /.test(line)) {
      const level = line.match(/^#+/)[0].length + 1;
      out.push(`<h${level}>${inline(line.replace(/^#+ /, ""))}</h${level}>`);
    } else if (/^\s*([-*]|\d+\.) /.test(line)) {
      const ordered = /^\s*\d+\. /.test(line);
      const marker = ordered ? /^\s*\d+\. / : /^\s*[-*] /;
      const items = [];
      while (i < lines.length && marker.test(lines[i])) items.push(lines[i++].replace(marker, ""));
      i--;
      const tag = ordered ? "ol" : "ul";
      out.push(`<${tag}>` + items.map((it) => `<li>${inline(it)}</li>`).join("") + `</${tag}>`);
    } else if (line.trim()) {
      out.push(`<p>${inline(line)}</p>`);
    }
  }
  return out.join("\n");
}

function inline(text) {
  return escapeHtml(text).replace(/\*\*(.+?)\*\*/g, "<strong>$1</strong>").replace(/`(.+?)`/g, "<code>$1</code>");
}

function add(cls, html) {
  const el = document.createElement("div");
  el.className = cls;
  el.innerHTML = html;
  $("#timeline").appendChild(el);
  el.scrollIntoView({ block: "end" });
  return el;
}

function describe(event) {
  const d = event.data || {};
  switch (event.type) {
    case "run_started": return ["event", "Run started"];
    case "agent_started": return ["event agent", `<strong>${escapeHtml(d.agent)}</strong> started`];
    case "agent_thinking": return ["event", `${escapeHtml(d.agent)}: ${escapeHtml(d.text)}`];
    case "tool_executing": return ["event", `${escapeHtml(d.agent)} → ${escapeHtml(d.tool)}…`];
    case "tool_completed": return ["event", `${escapeHtml(d.tool)}: ${escapeHtml(d.summary || d.status)} (${d.duration_ms} ms)`];
    case "agent_completed": return ["event agent", `<strong>${escapeHtml(d.agent)}</strong> ${escapeHtml(d.status)}: ${escapeHtml(d.summary || "")}`];
    case "agent_error": return ["event fail", `${escapeHtml(d.agent)} failed: ${escapeHtml(d.message)}`];
    case "run_completed": return ["event", `Done in ${(d.duration_ms / 1000).toFixed(1)} s`];
    case "run_failed": return ["event fail", `Run failed (${escapeHtml(d.code)}): ${escapeHtml(d.message)}`];
    case "error": return ["event fail", `Error (${escapeHtml(d.code)}): ${escapeHtml(d.message)}`];
    default: return null;
  }
}

function connect() {
  socket = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`,
    ["tokenomist.v1", `bearer.${token}`]);
  socket.onmessage = (msg) => {
    const event = JSON.parse(msg.data);
    if (event.type === "assistant_message") {
      add("msg", renderMarkdown(event.data.content || ""));
      return;
    }
    if (event.type === "run_completed" || event.type === "run_failed") $("#ask button").disabled = false;
    const shown = describe(event);
    if (shown) add(shown[0], shown[1]);
  };
  socket.onclose = (ev) => {
    add("event fail", `Connection closed (${ev.code}). ${ev.code === 4401 ? "Session expired: sign in again." : ""}`);
    $("#ask button").disabled = true;
  };
}

$("#login").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const form = new FormData(ev.target);
  $("#login-error").textContent = "";
  const res = await fetch("/auth/login", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ email: form.get("email"), password: form.get("password") }),
  });
  // An edge in front of the server may answer with an HTML page: say so instead of failing silently.
  const body = await res.json().catch(() => null);
  if (!res.ok || body === null) {
    $("#login-error").textContent = body && body.error ? body.error.message
      : `Sign-in failed (HTTP ${res.status}${body === null ? ", not a JSON answer" : ""})`;
    return;
  }
  token = body.access_token;
  $("#who").textContent = body.user.email;
  $("#login").hidden = true;
  $("#chat").hidden = false;
  connect();
});

$("#ask").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const q = new FormData(ev.target).get("q");
  if (!socket || socket.readyState !== WebSocket.OPEN) return;
  add("msg user", escapeHtml(q));
  $("#ask button").disabled = true;
  socket.send(JSON.stringify({ type: "user_message", content: q }));
});
