// The alert list and the live tracks: what is about to go wrong, and where.
import type { Position } from "geojson";
import { aircraftKey, type Alert, type AlertAircraft } from "./api";
import { fill, h } from "./dom";
import { extrapolate, type TrackView } from "./map";
import type { Ctx } from "./state";
import { formatAltitude, formatDuration, formatNm, FT, formatTime } from "./units";

const KIND_NAMES: Record<string, string> = {
  conflict: "Conflict",
  loss_of_separation: "Loss of separation",
  constraint_incursion: "Closed airspace",
  nonconformance: "Outside declared volume",
};

const CLEARED_SHOWN_MS = 5 * 60_000; // cleared alerts stay listed (dimmed) this long

/** When (ms) a figure "in N seconds" computed by the line comes due. */
function dueAt(a: Alert, figureS: number): number {
  const at = a.aircraft?.[0]?.state?.time;
  return (at ? Date.parse(at) : Date.parse(a.updated_at)) + figureS * 1000;
}

/** A span counting down to ``until`` (ms), advanced by tickCountdowns. */
function countdown(cls: string, prefix: string, until: number, title = ""): HTMLElement {
  return h("span", { class: cls, title, "data-until": String(until), "data-prefix": prefix });
}

function tickCountdowns(root: HTMLElement, now: number): void {
  for (const el of root.querySelectorAll<HTMLElement>("[data-until]")) {
    el.textContent = `${el.dataset.prefix}${formatDuration(Math.max(0, (Number(el.dataset.until) - now) / 1000))}`;
  }
}

function callsign(ctx: Ctx, entry: AlertAircraft): string {
  if (!entry.own && !entry.aircraft_id) return "unknown aircraft";
  return entry.callsign || ctx.state.aircraft.get(sideKey(entry) ?? "")?.callsign
    || entry.aircraft_id || "aircraft";
}

/** An alert side's aircraftKey, when the reader may know whose aircraft it is. */
function sideKey(entry: AlertAircraft): string | null {
  return entry.aircraft_id && entry.party ? aircraftKey(entry.party, entry.aircraft_id) : null;
}

function describe(ctx: Ctx, a: Alert): HTMLElement[] {
  const lines: HTMLElement[] = [];
  const who = (a.aircraft ?? []).map((e) =>
    `${callsign(ctx, e)}${e.party && e.party !== ctx.state.me.name ? ` (${e.party})` : ""} ${formatAltitude(e.state.altitude_m)}`);
  if (who.length) lines.push(h("div", { class: "who" }, who.join(" × ")));
  const live = a.state === "raised"; // a cleared alert's countdowns are over
  if (a.encounter) {
    const e = a.encounter;
    const title = "time to loss of separation";
    lines.push(h("div", { class: "figures" },
      !live ? null : e.lost_now ? h("span", { class: "ttc", title }, "separation lost now")
        : countdown("ttc", "in ", dueAt(a, e.t_in_s), title),
      h("span", { class: "miss", title: "predicted miss distance at closest approach" },
        `miss ${formatNm(e.dcpa_m)}`),
      h("span", { class: "vmiss", title: "vertical distance at closest approach" },
        `${Math.round(Math.abs(e.vertical_at_cpa_m) / FT / 100) * 100} ft vert`),
      live && !e.lost_now ? countdown("cpa", "CPA in ", dueAt(a, e.tcpa_s), "time to closest approach") : null));
  }
  if (a.incursion && a.constraint) {
    const i = a.incursion;
    lines.push(h("div", { class: "figures" },
      !live ? null : i.inside_now ? h("span", { class: "ttc" }, "inside now")
        : countdown("ttc", "entry in ", dueAt(a, i.time_to_entry_s), "time to entry"),
      h("span", {}, `${a.constraint.name || a.constraint.kind} (${a.constraint.authority})`)));
  }
  if (a.kind === "nonconformance") {
    lines.push(h("div", { class: "figures" }, `operation of ${a.operation_owner ?? "?"} `,
      h("code", {}, (a.operation_id ?? "").slice(0, 8))));
  }
  lines.push(h("div", { class: "when" }, a.state === "cleared" && a.cleared_at
    ? `raised ${formatTime(Date.parse(a.raised_at))}, cleared ${formatTime(Date.parse(a.cleared_at))}`
    : `raised ${formatTime(Date.parse(a.raised_at))}`));
  return lines;
}

/** Where an alert's aircraft are now: own live tracks if known, else the alert's states. */
export function alertPositions(ctx: Ctx, a: Alert, now: number): Position[] {
  return (a.aircraft ?? []).map((e) => {
    const live = e.aircraft_id
      ? ctx.state.tracks.find((t) => t.aircraft_id === e.aircraft_id && t.party === e.party) : undefined;
    return extrapolate(live ?? e.state, now);
  });
}

export function shownAlerts(ctx: Ctx, now: number): Alert[] {
  return ctx.state.alerts.filter((a) => a.state === "raised"
    || (a.cleared_at && now - Date.parse(a.cleared_at) < CLEARED_SHOWN_MS));
}

const drawn = new WeakMap<HTMLElement, Map<string, { sig: string; el: HTMLElement }>>();

/** The alert list; an item is rebuilt only when its alert changed (clicks and focus stay put),
 * and its countdowns advance in place. */
export function renderAlerts(ctx: Ctx, list: HTMLElement, count: HTMLElement, now: number): void {
  const shown = shownAlerts(ctx, now);
  const raised = shown.filter((a) => a.state === "raised");
  count.textContent = raised.length ? String(raised.length) : "";
  count.classList.toggle("hot", raised.length > 0);
  const cache = drawn.get(list) ?? new Map<string, { sig: string; el: HTMLElement }>();
  drawn.set(list, cache);
  const ordered = [...raised, ...shown.filter((a) => a.state !== "raised")];
  const nodes = ordered.map((a) => {
    const names = (a.aircraft ?? []).map((e) => callsign(ctx, e)).join("|");
    const sig = JSON.stringify(a) + names;
    let entry = cache.get(a.id);
    if (!entry || entry.sig !== sig) {
      entry = { sig, el: h("li", {
        class: `alert ${a.kind} ${a.state}`, "data-alert": a.id, "data-state": a.state,
        tabindex: 0, title: "Show on the map",
        onclick: () => { const p = alertPositions(ctx, a, Date.now())[0]; if (p) ctx.map.flyTo(p); },
      }, h("div", { class: "title" }, h("span", { class: "kind" }, KIND_NAMES[a.kind] ?? a.kind),
           h("span", { class: "state" }, a.state)), ...describe(ctx, a)) };
      cache.set(a.id, entry);
    }
    return entry.el;
  });
  const keep = new Set(ordered.map((a) => a.id));
  for (const id of [...cache.keys()]) if (!keep.has(id)) cache.delete(id);
  const current = Array.from(list.children);
  if (!nodes.length) {
    if (!list.querySelector(".empty")) fill(list, h("li", { class: "empty" }, "No alerts."));
  } else if (current.length !== nodes.length || nodes.some((n, i) => current[i] !== n)) {
    fill(list, ...nodes);
  }
  tickCountdowns(list, now);
}

/** Tracks to draw: own (or, for observers, all) live tracks and others' aircraft from alerts. */
export function trackViews(ctx: Ctx, now: number): TrackView[] {
  const { state } = ctx;
  const raised = state.alerts.filter((a) => a.state === "raised");
  const alerting = new Set(raised.flatMap((a) => (a.aircraft ?? []).map(sideKey).filter(Boolean)));
  const views: TrackView[] = state.tracks.map((t) => {
    const key = aircraftKey(t.party, t.aircraft_id);
    return {
      id: key,
      aircraftId: t.aircraft_id,
      own: t.party === state.me.name,
      party: t.party,
      label: state.aircraft.get(key)?.callsign || t.aircraft_id,
      state: t,
      coasting: t.coasting,
      alerting: alerting.has(key),
    };
  });
  const known = new Set(views.map((v) => v.id));
  for (const a of raised) {
    (a.aircraft ?? []).forEach((e, i) => {
      const key = sideKey(e);
      if (key && known.has(key)) return;
      if (e.own && e.aircraft_id) return; // own aircraft no longer reported: nothing to guess
      const id = key ?? `alert:${a.id}:${i}`;
      known.add(id);
      views.push({ id, aircraftId: e.aircraft_id ?? null, own: false, party: e.party ?? null,
                   label: e.aircraft_id ? callsign(ctx, e) : "traffic",
                   state: e.state, coasting: false, alerting: true });
    });
  }
  void now;
  return views;
}
