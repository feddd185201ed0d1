// The hotline panel: threads with each recipient's state (sent → delivered → replied), reply
// buttons, a running timer on everything unanswered, and a compose form.
import type { Message, Recipient } from "./api";
import { Problem } from "./api";
import { fill, h } from "./dom";
import type { Ctx } from "./state";
import { formatDuration, formatTime, formatTimer } from "./units";

const REPLIES = [
  ["acknowledged", "Acknowledged"],
  ["will_comply", "Will comply"],
  ["unable", "Unable"],
  ["standby", "Standby"],
] as const;
const REPLY_NAMES: Record<string, string> = Object.fromEntries(REPLIES);

/** A reply that ends the wait (standby only holds escalation off: README "Replies"). */
const isFinal = (r: Recipient) => r.reply !== null && r.reply !== "standby";

export class Hotline {
  private threads = new Map<string, { sig: string; el: HTMLElement }>();
  private list: HTMLElement;
  private count: HTMLElement;
  private to: HTMLSelectElement;
  private compose: HTMLFormElement;

  constructor(private readonly ctx: Ctx, root: HTMLElement) {
    this.count = h("span", { class: "count", id: "unanswered-count" });
    this.to = h("select", { name: "to", "aria-label": "to" });
    const urgency = h("select", { name: "urgency", "aria-label": "urgency" },
      h("option", { value: "routine" }, "routine"), h("option", { value: "urgent" }, "urgent"),
      h("option", { value: "distress" }, "distress"));
    const subject = h("input", { name: "subject", placeholder: "Subject", required: true, maxlength: 200,
                                 "aria-label": "subject" });
    const body = h("textarea", { name: "body", placeholder: "Message", rows: 3, maxlength: 10000,
                                 "aria-label": "message body" });
    const status = h("div", { class: "form-status", role: "status" });
    this.compose = h("form", { class: "compose", id: "compose" },
      h("div", { class: "row" }, h("label", {}, "To ", this.to), h("label", {}, "Urgency ", urgency)),
      subject, body,
      h("div", { class: "row" }, h("button", { type: "submit" }, "Send"), status));
    this.compose.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      status.textContent = "sending…";
      try {
        await ctx.api.post("/v1/messages", { to: this.to.value, urgency: urgency.value,
                                             subject: subject.value, body: body.value });
        subject.value = "";
        body.value = "";
        status.textContent = "sent";
        ctx.refresh("messages");
      } catch (err) {
        status.textContent = err instanceof Problem ? problemText(err) : String(err);
      }
    });
    this.list = h("ol", { class: "threads", id: "threads" });
    const canSend = ctx.state.me.role !== "observer";
    fill(root, h("h2", {}, "Hotline ", this.count), canSend ? this.compose
      : h("p", { class: "muted" }, "Observers read every thread and send nothing."), this.list);
  }

  /** Recipients for the compose form: every active operator and authority but me, or all. */
  renderParties(): void {
    const { state } = this.ctx;
    const names = state.parties.filter((p) => p.active && p.role !== "observer" && p.name !== state.me.name)
      .map((p) => p.name);
    const current = this.to.value;
    fill(this.to, h("option", { value: "all" }, "all"), ...names.map((n) => h("option", { value: n }, n)));
    if ([...this.to.options].some((o) => o.value === current)) this.to.value = current;
  }

  render(): void {
    const { state } = this.ctx;
    const seen = new Set<string>();
    const nodes: HTMLElement[] = [];
    for (const m of state.messages) {
      seen.add(m.id);
      const sig = JSON.stringify(m);
      let entry = this.threads.get(m.id);
      if (!entry || entry.sig !== sig) {
        const el = this.thread(m);
        // keep a half-typed reply text across a redraw of its thread
        const old = entry?.el.querySelector<HTMLInputElement>("input.reply-text");
        const now = el.querySelector<HTMLInputElement>("input.reply-text");
        if (old && now) now.value = old.value;
        entry = { sig, el };
        this.threads.set(m.id, entry);
      }
      nodes.push(entry.el);
    }
    for (const id of [...this.threads.keys()]) if (!seen.has(id)) this.threads.delete(id);
    // reorder only when needed, so focus and scroll stay put
    const current = Array.from(this.list.children);
    if (current.length !== nodes.length || nodes.some((n, i) => current[i] !== n)) {
      if (!nodes.length) fill(this.list, h("li", { class: "empty" }, "No messages."));
      else fill(this.list, ...nodes);
    }
    this.tick();
  }

  /** Advance every running timer (once a second). */
  tick(): void {
    const now = Date.now();
    let unanswered = 0;
    for (const el of this.list.querySelectorAll<HTMLElement>(".timer")) {
      const since = Number(el.dataset.since);
      const due = el.dataset.due ? Number(el.dataset.due) : null;
      el.textContent = `unanswered ${formatTimer((now - since) / 1000)}`
        + (due !== null ? (due > now ? ` · escalates in ${formatDuration((due - now) / 1000)}` : " · escalating") : "");
      el.classList.toggle("overdue", due !== null && due <= now);
    }
    for (const m of this.ctx.state.messages) {
      if (m.recipients.some((r) => r.party === this.ctx.state.me.name && !isFinal(r))) unanswered += 1;
    }
    this.count.textContent = unanswered ? `${unanswered} to answer` : "";
    this.count.classList.toggle("hot", unanswered > 0);
  }

  private thread(m: Message): HTMLElement {
    const me = this.ctx.state.me.name;
    const mine = m.recipients.find((r) => r.party === me);
    const open = m.recipients.some((r) => !isFinal(r));
    const el = h("li", { class: `thread ${m.urgency}${open ? " open" : ""}`, "data-message": m.id },
      h("div", { class: "head" },
        h("span", { class: `urgency ${m.urgency}` }, m.urgency),
        h("span", { class: "subject" }, m.subject)),
      h("div", { class: "meta" }, `${m.from} → ${m.to} · ${formatTime(Date.parse(m.time))}`),
      m.body ? h("div", { class: "body" }, m.body) : null,
      h("table", { class: "recipients" }, ...m.recipients.map((r) => this.recipientRow(m, r))));
    if (mine) {
      const text = h("input", { class: "reply-text", placeholder: "optional text", maxlength: 10000,
                                "aria-label": "reply text" });
      const status = h("span", { class: "form-status", role: "status" });
      const buttons = REPLIES.map(([kind, label]) => h("button", {
        type: "button", class: `reply ${kind}${mine.reply === kind ? " chosen" : ""}`, "data-reply": kind,
        onclick: async () => {
          status.textContent = "…";
          try {
            await this.ctx.api.post(`/v1/messages/${encodeURIComponent(m.id)}/replies`,
              text.value ? { reply: kind, text: text.value } : { reply: kind });
            status.textContent = "";
            this.ctx.refresh("messages");
          } catch (err) {
            status.textContent = err instanceof Problem ? problemText(err) : String(err);
          }
        },
      }, label));
      el.append(h("div", { class: "reply-bar" }, ...buttons, text, status));
    }
    return el;
  }

  private recipientRow(m: Message, r: Recipient): HTMLElement {
    const cells = [
      h("td", { class: "party" }, r.party),
      h("td", { class: `status ${r.status}` }, r.status),
      h("td", { class: "reply" }, r.reply ? REPLY_NAMES[r.reply] ?? r.reply : "",
        r.reply_text ? h("span", { class: "reply-text-shown" }, ` “${r.reply_text}”`) : null),
    ];
    if (!isFinal(r)) {
      cells.push(h("td", {}, h("span", { class: "timer", "data-since": String(Date.parse(m.time)),
        "data-due": r.next_escalation_at ? String(Date.parse(r.next_escalation_at)) : null }),
        r.escalations ? h("span", { class: "escalations" }, ` · escalated ${r.escalations}×`) : null));
    } else {
      cells.push(h("td", { class: "muted" }, r.replied_at ? formatTime(Date.parse(r.replied_at)) : ""));
    }
    return h("tr", { "data-party": r.party, "data-status": r.status }, ...cells);
  }
}

/** A problem for people: its detail (validation details already name each field). */
export function problemText(p: Problem): string {
  return p.status ? `${p.message} (HTTP ${p.status})` : p.message;
}
