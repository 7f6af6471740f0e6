// One run's live timeline: each agent a collapsible step holding its thoughts and tool calls
// with durations. Every event with a seq becomes exactly one element carrying data-seq, so a
// replay after a resume can be checked for gaps and duplicates.
import { esc, duration } from "./util.js";

export class Timeline {
  constructor(container, runId) {
    this.root = document.createElement("section");
    this.root.className = "run";
    this.root.dataset.run = runId;
    this.root.setAttribute("aria-label", "Analysis steps");
    this.root.innerHTML = `<ol class="timeline" aria-live="polite"></ol>`;
    this.list = this.root.querySelector(".timeline");
    this.agents = new Map();
    container.appendChild(this.root);
  }

  item(parent, cls, htmlText, seq) {
    const li = document.createElement("li");
    li.className = cls;
    li.innerHTML = htmlText;
    if (seq !== undefined) li.dataset.seq = String(seq);
    parent.appendChild(li);
    return li;
  }

  step(agent, seq) {
    let step = this.agents.get(agent);
    if (!step) {
      const li = this.item(this.list, "step", `<details open><summary><span class="agent-name">${esc(agent)}</span>
        <span class="state">running…</span></summary><ol class="step-body"></ol></details>`, seq);
      li.dataset.agent = agent;
      step = { li, body: li.querySelector(".step-body"), state: li.querySelector(".state"),
        details: li.querySelector("details"), tools: new Map() };
      this.agents.set(agent, step);
    }
    return step;
  }

  add(event) {
    const d = event.data || {};
    const seq = event.seq;
    switch (event.type) {
      case "run_started":
        this.item(this.list, "ev", "Run started", seq);
        break;
      case "agent_started":
        this.step(d.agent, seq);
        break;
      case "agent_thinking":
        this.item(this.step(d.agent).body, "thinking", esc(d.text), seq);
        break;
      case "tool_executing": {
        const args = d.args && Object.keys(d.args).length ? JSON.stringify(d.args) : "";
        const li = this.item(this.step(d.agent).body, "tool",
          `<span data-seq="${seq}"><code>${esc(d.tool)}</code> <span class="args">${esc(args)}</span></span>
           <span class="tool-state">running…</span>`);
        li.dataset.call = d.call_id;
        this.step(d.agent).tools.set(d.call_id, li);
        break;
      }
      case "tool_completed": {
        const li = this.step(d.agent).tools.get(d.call_id)
          || this.item(this.step(d.agent).body, "tool", `<code>${esc(d.tool)}</code>`);
        li.classList.add(d.status === "completed" ? "ok" : "bad");
        li.querySelector(".tool-state")?.remove();
        li.insertAdjacentHTML("beforeend", `<span class="tool-done" data-seq="${seq}">
          ${esc(d.status)} · ${esc(duration(d.duration_ms))}${d.summary ? ` · ${esc(d.summary)}` : ""}</span>`);
        break;
      }
      case "agent_completed": {
        const step = this.step(d.agent);
        this.item(step.body, "done", `${esc(d.status)} in ${esc(duration(d.duration_ms))}${d.summary ? `: ${esc(d.summary)}` : ""}`, seq);
        step.state.textContent = `${d.status === "completed" ? "✓" : d.status} ${duration(d.duration_ms)}`;
        step.li.classList.add("finished");
        step.details.open = false; // finished steps fold away; the running one stays open
        break;
      }
      case "agent_error": {
        const step = this.step(d.agent);
        this.item(step.body, "fail", `failed (${esc(d.code)}): ${esc(d.message)}`, seq);
        step.state.textContent = "failed";
        step.li.classList.add("failed");
        break;
      }
      case "run_completed":
        this.item(this.list, "ev end", `Done in ${esc(duration(d.duration_ms))} (${esc(d.status)})`, seq);
        break;
      case "run_failed":
        this.item(this.list, "ev fail end", `Run failed (${esc(d.code)}): ${esc(d.message)}`, seq);
        break;
      default:
        if (seq !== undefined) this.item(this.list, "ev", esc(event.type), seq);
    }
  }
}
