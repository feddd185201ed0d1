// The operator console: sign in with a party token, then the live line — map, alerts, hotline,
// declarations, the ledger's head — kept current by the party's event stream and light polling
// (the stream says what changed; the REST views say what is, by need-to-know).
import "./style.css";
import type {
  Aircraft, Alert, Constraint, Health, LineEvent, Message, Operation, Party, Track,
} from "./api";
import { aircraftKey, Api, Problem, whoAmI } from "./api";
import { alertPositions, renderAlerts, shownAlerts, trackViews } from "./alerts";
import { Declare } from "./declare";
import { byId, fill, h } from "./dom";
import { EventStream, type StreamState } from "./events";
import { Hotline } from "./hotline";
import { Ledger } from "./ledger";
import { MapView, OTHER, OWN, PALETTE } from "./map";
import type { Ctx, State, Topic } from "./state";
import { boundingCircle } from "./geo";
import { formatBand, formatTime } from "./units";

const TOKEN_KEY = "deconfliction.token"; // sessionStorage: gone when the tab closes
const seqKey = (party: string) => `deconfliction.seq.${party}`;

// How often each view is read again even without an event (operations of others and tracks
// are not in a party's stream; the rest is, and this only bounds staleness).
const POLL_MS: Partial<Record<Topic, number>> = {
  tracks: 1000, alerts: 2000, operations: 5000, constraints: 15_000, messages: 10_000,
  aircraft: 10_000, parties: 30_000, ledger: 10_000,
};
const LINK_TEST_FRESH_MS = 60_000; // answer link tests this recent (not ones replayed from history)
const EVENT_LOG_SIZE = 40;

function signIn(error?: string): void {
  byId("app").hidden = true;
  const overlay = byId("signin");
  overlay.hidden = false;
  const form = byId<HTMLFormElement>("signin-form");
  const input = byId<HTMLInputElement>("token");
  const status = byId("signin-error");
  status.textContent = error ?? "";
  input.focus();
  form.onsubmit = async (ev) => {
    ev.preventDefault();
    const token = input.value.trim();
    if (!token) return;
    status.textContent = "signing in…";
    try {
      const me = await whoAmI(token);
      sessionStorage.setItem(TOKEN_KEY, token);
      input.value = "";
      start(token, me);
    } catch (err) {
      status.textContent = err instanceof Problem && err.status === 401
        ? "Unknown or revoked token." : `Cannot sign in: ${err instanceof Error ? err.message : err}`;
    }
  };
}

function signOut(reason?: string): void {
  sessionStorage.removeItem(TOKEN_KEY);
  // a later sign-in (maybe to a new line) reads its stream from the start
  for (const key of Object.keys(sessionStorage)) {
    if (key.startsWith("deconfliction.seq.")) sessionStorage.removeItem(key);
  }
  // a fresh page drops every timer, stream and marker of the old session
  if (reason) sessionStorage.setItem("deconfliction.signout", reason);
  location.reload();
}

function start(token: string, me: Party): void {
  byId("signin").hidden = true;
  byId("app").hidden = false;
  const api = new Api(token, () => signOut("The line no longer accepts this token."));
  const state: State = {
    me, parties: [], health: null, operations: [], constraints: [], tracks: [],
    aircraft: new Map(), alerts: [], messages: [],
  };
  const map = new MapView(byId("map"));
  map.colorOf = (party) => {
    if (party === me.name) return OWN;
    if (me.role === "operator" || !party) return OTHER;
    const operators = state.parties.filter((p) => p.role === "operator").map((p) => p.name).sort();
    const i = operators.indexOf(party);
    return i < 0 ? "#94a3b8" : PALETTE[i % PALETTE.length];
  };
  const statusLine = byId("notice");
  let frame = 0;
  const ctx: Ctx = {
    api, state, map,
    refresh: (topic) => void load(topic),
    render: () => { if (!frame) frame = requestAnimationFrame(() => { frame = 0; render(); }); },
    showTime: (ms) => timebar.show(ms),
    notify: (text, kind = "info") => {
      statusLine.textContent = text;
      statusLine.dataset.kind = kind;
      delete statusLine.dataset.topic;
    },
  };

  fill(byId("who"), h("strong", {}, me.name), ` · ${me.role}`);
  byId("signout").onclick = () => signOut();
  const hotline = new Hotline(ctx, byId("hotline"));
  const declare = me.role === "operator" ? new Declare(ctx, byId("declare-panel")) : null;
  if (!declare) byId("declare-panel").hidden = true;
  const ledger = new Ledger(api, byId("ledger"));
  const timebar = new Timebar(byId("timebar"), (ms) => map.setTime(ms));

  // -- loading, one topic at a time, merged --------------------------------------------------
  const inflight = new Map<Topic, Promise<void>>();
  const again = new Set<Topic>();
  const loaders: Record<Topic, () => Promise<void>> = {
    operations: async () => { state.operations = (await api.get<{ operations: Operation[] }>("/v1/operations")).operations; },
    constraints: async () => { state.constraints = (await api.get<{ constraints: Constraint[] }>("/v1/constraints")).constraints; },
    tracks: async () => {
      state.tracks = (await api.get<{ tracks: Track[] }>("/v1/tracks")).tracks;
      if (state.tracks.some((t) => t.party === me.name && !state.aircraft.has(aircraftKey(t.party, t.aircraft_id)))) void load("aircraft");
    },
    aircraft: async () => {
      const list = (await api.get<{ aircraft: Aircraft[] }>("/v1/aircraft")).aircraft;
      state.aircraft = new Map(list.map((a) => [aircraftKey(a.party, a.id), a]));
    },
    alerts: async () => {
      // every raised alert, however old, and the latest ones whatever their state
      const [raised, recent] = await Promise.all([
        api.get<{ alerts: Alert[] }>("/v1/alerts?state=raised&limit=1000"),
        api.get<{ alerts: Alert[] }>("/v1/alerts?state=all&limit=100"),
      ]);
      const merged = new Map([...recent.alerts, ...raised.alerts].map((a) => [a.id, a]));
      state.alerts = [...merged.values()].sort((a, b) => Date.parse(b.raised_at) - Date.parse(a.raised_at));
    },
    messages: async () => { state.messages = (await api.get<{ messages: Message[] }>("/v1/messages?limit=100")).messages; },
    parties: async () => {
      state.parties = (await api.get<{ parties: Party[] }>("/v1/parties")).parties;
      hotline.renderParties();
    },
    ledger: () => ledger.poll(),
  };
  async function load(topic: Topic): Promise<void> {
    if (inflight.has(topic)) { again.add(topic); return inflight.get(topic); }
    const run = (async () => {
      try {
        await loaders[topic]();
        ctx.render();
        if (statusLine.dataset.topic === topic) ctx.notify(""); // that failure is over
      } catch (err) {
        if (!(err instanceof Problem && err.status === 401)) {
          ctx.notify(`${topic}: ${err instanceof Error ? err.message : err}`, "error");
          statusLine.dataset.topic = topic;
        }
      } finally {
        inflight.delete(topic);
        if (again.delete(topic)) void load(topic);
      }
    })();
    inflight.set(topic, run);
    return run;
  }

  // -- drawing -------------------------------------------------------------------------------
  const opsList = byId("operations");
  const alertList = byId("alerts");
  const alertCount = byId("alert-count");
  function render(): void {
    const now = Date.now();
    const raisedConstraints = new Set(state.alerts.filter((a) => a.state === "raised" && a.constraint)
      .map((a) => a.constraint!.id));
    map.setOperations(state.operations, me.name);
    map.setConstraints(state.constraints.filter((c) => c.state !== "withdrawn"), raisedConstraints);
    renderAlerts(ctx, alertList, alertCount, now);
    renderOperations(ctx, opsList);
    timebar.extend(state.operations);
    hotline.render();
    drawTracks();
  }
  function drawTracks(): void {
    const now = Date.now();
    map.setTracks(trackViews(ctx, now), now);
    map.setAlerts(shownAlerts(ctx, now).filter((a) => a.state === "raised"), (a) => alertPositions(ctx, a, now));
  }

  // -- the event stream ----------------------------------------------------------------------
  const eventLog = byId("events");
  const conn = byId("conn");
  const stream = new EventStream({
    token,
    after: Number(sessionStorage.getItem(seqKey(me.name)) ?? 0),
    onUnauthorized: () => signOut("The line no longer accepts this token."),
    onState: (s: StreamState, detail?: string) => {
      conn.dataset.state = s;
      conn.textContent = { connecting: "connecting…", live: "● live", reconnecting: "reconnecting…", stopped: "stopped" }[s];
      conn.title = `${detail ? `${detail}; ` : ""}click to reconnect now`;
      if (s === "live") for (const t of ["alerts", "messages", "operations", "constraints"] as Topic[]) void load(t);
    },
    onEvent: (e: LineEvent) => {
      sessionStorage.setItem(seqKey(me.name), String(e.seq));
      const topic = e.kind.split(".")[0];
      if (topic === "alert") void load("alerts");
      else if (topic === "message") void load("messages");
      else if (topic === "operation") void load("operations");
      else if (topic === "constraint") void load("constraints");
      else if (e.kind === "track.dropped") void load("tracks");
      else if (e.kind === "line.test" && Date.now() - Date.parse(e.time) < LINK_TEST_FRESH_MS) {
        // the console's answer is the round trip the line measures for this party
        const id = String(e.data.test_id ?? "");
        if (id) void api.post(`/v1/line/test/${encodeURIComponent(id)}/ack`, {}).catch(() => {});
      }
      logEvent(eventLog, e);
    },
  });

  conn.onclick = () => stream.reconnect();
  window.addEventListener("online", () => stream.reconnect()); // back on the network: no back-off

  // -- go --------------------------------------------------------------------------------------
  void api.get<Health>("/v1/health").then((h) => { state.health = h; renderProfile(h); }).catch(() => {});
  for (const topic of Object.keys(loaders) as Topic[]) void load(topic);
  for (const [topic, ms] of Object.entries(POLL_MS)) setInterval(() => void load(topic as Topic), ms);
  setInterval(() => { timebar.tick(); hotline.tick(); drawTracks(); renderAlerts(ctx, alertList, alertCount, Date.now()); }, 1000);
  void map.ready.then(() => ctx.render());
  stream.start();
  window.addEventListener("beforeunload", () => stream.stop());
}

function renderProfile(health: Health): void {
  const p = health.separation_profile;
  byId("profile").textContent = `${p.name}: ${(p.horizontal_m / 1852).toFixed(p.horizontal_m % 1852 ? 2 : 0)} NM / `
    + `${Math.round(p.vertical_m / 0.3048)} ft, look-ahead ${p.look_ahead_s} s`;
}

function renderOperations(ctx: Ctx, list: HTMLElement): void {
  const { state, api } = ctx;
  const live = state.operations.filter((o) => o.state !== "ended");
  const own = live.filter((o) => o.owner === state.me.name);
  const others = live.filter((o) => o.owner !== state.me.name);
  const endButton = (o: Operation) => h("button", { type: "button", class: "small end", onclick: async () => {
    try {
      await api.request("DELETE", `/v1/operations/${encodeURIComponent(o.id)}?ovn=${encodeURIComponent(o.ovn)}`);
      ctx.refresh("operations");
    } catch (err) { ctx.notify(err instanceof Error ? err.message : String(err), "error"); }
  } }, "End");
  const item = (o: Operation) => {
    const v = o.volumes;
    const start = Math.min(...v.map((x) => Date.parse(x.time_start)));
    const end = Math.max(...v.map((x) => Date.parse(x.time_end)));
    const lo = Math.min(...v.map((x) => x.altitude_lower_m));
    const hi = Math.max(...v.map((x) => x.altitude_upper_m));
    const show = (ev: Event) => {
      if ((ev.target as HTMLElement).closest("button")) return;
      ctx.map.flyTo(boundingCircle(v[0].footprint).center);
      if (start > Date.now()) ctx.showTime(start); // a planned one: show the map at its start
    };
    return h("li", { class: `op ${o.state}`, "data-operation": o.id, title: "Show on the map", onclick: show },
      h("div", { class: "op-head" }, h("span", {}, h("strong", {}, o.owner === state.me.name ? "yours" : o.owner),
        ` · ${o.state} · priority ${o.priority}`, o.short_notice ? h("span", { class: "tag" }, "short notice") : null),
        o.owner === state.me.name ? endButton(o) : null),
      h("div", { class: "muted" }, `${formatBand(lo, hi)} · ${formatTime(start, true)} → ${formatTime(end, true)}`),
      o.callsigns?.length ? h("div", { class: "muted" }, o.callsigns.join(", ")) : null);
  };
  const sig = JSON.stringify(live.map((o) => [o.id, o.ovn, o.state]));
  if (list.dataset.sig === sig) return;
  list.dataset.sig = sig;
  if (state.me.role === "operator") {
    fill(list, h("li", { class: "group" }, `Yours (${own.length})`), ...own.map(item),
      h("li", { class: "group" }, `Others' (${others.length})`), ...others.map(item));
    return;
  }
  // authorities and observers own none: by operator
  const owners = [...new Set(live.map((o) => o.owner))].sort();
  fill(list, ...(owners.length ? owners.flatMap((name) => {
    const theirs = live.filter((o) => o.owner === name);
    return [h("li", { class: "group" }, `${name} (${theirs.length})`), ...theirs.map(item)];
  }) : [h("li", { class: "group" }, "No live operations.")]));
}

function summary(e: LineEvent): string {
  const d = e.data as Record<string, unknown>;
  if (e.kind.startsWith("message.")) return String(d.subject ?? d.reply ?? d.party ?? "");
  if (e.kind === "alert.capped") return `${String(d.party ?? "")}: ${String(d.held_back ?? 0)} held back`;
  if (e.kind === "alert.uncapped") return String(d.party ?? "");
  if (e.kind.startsWith("alert.")) return String(d.alert_kind ?? "");
  if (e.kind.startsWith("constraint.")) return String(d.name ?? "");
  if (e.kind.startsWith("operation.")) return `${d.owner ?? ""} ${d.state ?? ""}`.trim();
  if (e.kind === "track.dropped") return String(d.aircraft_id ?? "");
  return "";
}

function logEvent(list: HTMLElement, e: LineEvent): void {
  list.prepend(h("li", { "data-seq": e.seq }, h("span", { class: "muted" }, `#${e.seq} ${formatTime(Date.parse(e.time))} `),
    h("span", { class: "kind" }, e.kind), " ", summary(e)));
  while (list.children.length > EVENT_LOG_SIZE) list.lastElementChild?.remove();
}

/** The time slider: planned volumes are drawn in full when active at the chosen time. */
class Timebar {
  private live = true;
  private readonly range: HTMLInputElement;
  private readonly shown: HTMLElement;
  private readonly liveButton: HTMLButtonElement;
  private maxMs = Date.now() + 24 * 3600_000;

  constructor(root: HTMLElement, private readonly onTime: (ms: number) => void) {
    this.range = h("input", { type: "range", id: "time-slider", step: 60_000, "aria-label": "time shown" });
    this.shown = h("span", { class: "time-shown", id: "time-shown" });
    this.liveButton = h("button", { type: "button", class: "live", onclick: () => { this.live = true; this.tick(); } }, "Now");
    this.range.addEventListener("input", () => { this.live = false; this.update(); });
    fill(root, h("span", { class: "muted" }, "Time "), this.range, this.shown, this.liveButton);
    this.tick();
  }

  /** Let the slider reach the end of the latest planned volume (at most 30 days ahead). */
  extend(ops: Operation[]): void {
    // operations only: a constraint in force for weeks would make the slider too coarse
    const ends = ops.flatMap((o) => o.volumes.map((v) => Date.parse(v.time_end)));
    const now = Date.now();
    this.maxMs = Math.max(this.maxMs, Math.min(now + 30 * 86400_000, Math.max(now + 24 * 3600_000, ...ends)));
    this.range.max = String(this.maxMs);
  }

  tick(): void {
    const now = Date.now();
    this.range.min = String(Math.floor((now - 2 * 3600_000) / 60_000) * 60_000); // whole minutes
    this.range.max = String(this.maxMs);
    if (this.live) this.range.value = String(now);
    this.update();
  }

  show(ms: number): void {
    this.live = false;
    this.maxMs = Math.max(this.maxMs, ms);
    this.range.max = String(this.maxMs);
    this.range.value = String(ms);
    this.update();
  }

  private update(): void {
    const ms = Number(this.range.value);
    this.shown.textContent = this.live ? `now · ${formatTime(ms, true)}` : formatTime(ms, true);
    this.liveButton.disabled = this.live;
    this.onTime(ms);
  }
}

async function boot(): Promise<void> {
  const reason = sessionStorage.getItem("deconfliction.signout");
  sessionStorage.removeItem("deconfliction.signout");
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (!token) return signIn(reason ?? undefined);
  try {
    start(token, await whoAmI(token));
  } catch (err) {
    if (err instanceof Problem && err.status === 401) sessionStorage.removeItem(TOKEN_KEY);
    signIn(err instanceof Error ? err.message : String(err));
  }
}

void boot();
