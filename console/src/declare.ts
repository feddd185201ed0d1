// Declaring from the console: draw a circle or polygon, set the band (ft/FL) and the window
// (UTC), check, submit; a refusal shows the conflicts on the map and the line's suggestions,
// any of which can be applied, checked again and submitted.
//
// "Check" is the line's dry run (POST /v1/operations/check): the very checks a declaration
// meets, storing nothing and telling nobody. It answers "acceptable" (short notice? which
// lower-priority operations it would override) or the refusal the submission would get — the
// same problem object, so both are shown by one `refused`. The line decides again on Submit:
// something declared in between can still refuse it.
import type { Position } from "geojson";
import type { Footprint, Operation, Volume } from "./api";
import { Problem } from "./api";
import { fill, h } from "./dom";
import { circleRing, closedCcw, distance } from "./geo";
import { problemText } from "./hotline";
import type { Ctx } from "./state";
import { formatBand, formatClock, formatDuration, formatTime, FT, NM, parseAltitude } from "./units";

type Shape = "circle" | "polygon";

interface Suggestion {
  kind: "time_shift" | "altitude_shift"; shift_s?: number; shift_m?: number; volumes: Volume[];
  key: string[];
}

/** A lower-priority operation a plan would override (its owner is told on declaring). */
interface Override { operation_id: string; owner: string; priority: number; ovn: string }

/** The dry run's answer: acceptable, or the refusal problem the submission would meet. */
type Checked =
  | { acceptable: true; short_notice: boolean; overrides: Override[] }
  | { acceptable: false; refusal: Record<string, unknown> & { status: number; code: string } };

/** Whether a refusal came from Check (nothing asked yet) or from Submit (the line said no). */
type Asked = "check" | "submit";

/** A UTC time as typed and shown: "2026-11-28 06:00Z" (seconds only when there are some). */
function toInput(ms: number): string {
  const iso = new Date(ms).toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, iso.slice(17, 19) === "00" ? 16 : 19)}Z`;
}

function fromInput(v: string): number {
  const m = /^\s*(\d{4}-\d{2}-\d{2})[ T](\d{2}):?(\d{2})(?::(\d{2}))?\s*(?:Z|UTC)?\s*$/i.exec(v);
  return m ? Date.parse(`${m[1]}T${m[2]}:${m[3]}:${m[4] ?? "00"}Z`) : NaN;
}

export class Declare {
  private shape: Shape = "circle";
  private drawing = false;
  private center: Position | null = null;
  private radiusM: number | null = null;
  private points: Position[] = [];
  private closed = false;
  private hover: Position | null = null;
  private key: string[] = [];
  // An applied suggestion, kept exactly: the fields show whole feet and minutes, but the line's
  // shifts are exact to the metre and second (just clear of the minima), so while the fields
  // still show the suggestion, its own figures are sent.
  private applied: { volume: Volume; texts: string } | null = null;
  // Each check or submission takes a turn; only the latest one may show its answer (an
  // earlier check answered late must not cover a later submission's result).
  private turn = 0;

  private readonly f = {
    lat: h("input", { name: "lat", inputmode: "decimal", "aria-label": "centre latitude", size: 8 }),
    lon: h("input", { name: "lon", inputmode: "decimal", "aria-label": "centre longitude", size: 8 }),
    radius: h("input", { name: "radius", inputmode: "decimal", "aria-label": "radius (NM)", size: 5 }),
    lower: h("input", { name: "lower", value: "FL200", "aria-label": "lower altitude", size: 7 }),
    upper: h("input", { name: "upper", value: "FL250", "aria-label": "upper altitude", size: 7 }),
    start: h("input", { name: "start", placeholder: "YYYY-MM-DD HH:MMZ", "aria-label": "start (UTC)", size: 18 }),
    end: h("input", { name: "end", placeholder: "YYYY-MM-DD HH:MMZ", "aria-label": "end (UTC)", size: 18 }),
    priority: h("input", { name: "priority", type: "number", value: "0", "aria-label": "priority", size: 4 }),
    callsigns: h("input", { name: "callsigns", placeholder: "BLUE 1, BLUE 2", "aria-label": "callsigns" }),
    notes: h("input", { name: "notes", placeholder: "private to you and observers", "aria-label": "notes" }),
  };
  private readonly bandShown = h("span", { class: "muted band-shown" });
  private readonly drawButton = h("button", { type: "button", class: "draw" }, "Draw on map");
  private readonly shapeHint = h("div", { class: "muted hint" });
  private readonly keyShown = h("div", { class: "muted key-shown" });
  readonly result = h("div", { class: "declare-result", id: "declare-result", role: "status" });

  constructor(private readonly ctx: Ctx, root: HTMLElement) {
    const now = Date.now();
    this.f.start.value = toInput(Math.ceil((now + 2 * 3600_000) / 600_000) * 600_000);
    this.f.end.value = toInput(fromInput(this.f.start.value) + 3600_000);
    const shapeChoice = (s: Shape, label: string) => h("label", {},
      h("input", { type: "radio", name: "shape", value: s, checked: s === this.shape,
                   onchange: () => this.setShape(s) }), ` ${label}`);
    const form = h("form", { class: "declare", id: "declare" },
      h("div", { class: "row" }, shapeChoice("circle", "Circle"), shapeChoice("polygon", "Polygon"), this.drawButton),
      this.shapeHint,
      h("div", { class: "row circle-fields" }, h("label", {}, "Lat ", this.f.lat), h("label", {}, "Lon ", this.f.lon),
        h("label", {}, "Radius ", this.f.radius, " NM")),
      h("div", { class: "row" }, h("label", {}, "From ", this.f.lower), h("label", {}, "to ", this.f.upper), this.bandShown),
      h("div", { class: "row" }, h("label", {}, "Start ", this.f.start), h("label", {}, "End ", this.f.end)),
      h("div", { class: "row" }, h("label", {}, "Priority ", this.f.priority), h("label", {}, "Callsigns ", this.f.callsigns)),
      h("div", { class: "row" }, h("label", { class: "grow" }, "Notes ", this.f.notes)),
      this.keyShown,
      h("div", { class: "row" },
        h("button", { type: "button", class: "check", onclick: () => void this.check() }, "Check"),
        h("button", { type: "submit", class: "submit" }, "Submit"),
        h("button", { type: "button", class: "clear", onclick: () => this.clear() }, "Clear")),
      h("p", { class: "muted small" }, "Check asks the line what it would answer, storing nothing: conflicts, suggestions, "
        + "or acceptable. The line decides again when you submit (a refusal stores nothing)."));
    form.addEventListener("submit", (ev) => { ev.preventDefault(); void this.submit(); });
    for (const input of [this.f.lat, this.f.lon, this.f.radius]) {
      input.addEventListener("change", () => this.fromCircleFields());
    }
    for (const input of [this.f.lower, this.f.upper]) input.addEventListener("input", () => this.showBand());
    this.drawButton.addEventListener("click", () => this.setDrawing(!this.drawing));
    ctx.map.onClick = (p) => this.mapClick(p);
    ctx.map.onMove = (p) => { if (this.drawing) { this.hover = p; this.redraw(); } };
    ctx.map.onDoubleClick = () => this.finishPolygon();
    fill(root, h("h2", {}, "Declare an operation"), form, this.result);
    this.setShape("circle");
    this.showBand();
  }

  private setShape(s: Shape): void {
    this.shape = s;
    (this.f.lat.closest(".circle-fields") as HTMLElement).hidden = s !== "circle";
    this.shapeHint.textContent = s === "circle"
      ? "Draw: click the centre, then the edge — or type the centre and radius."
      : "Draw: click each corner; double-click (or Draw again) to close.";
    this.redraw();
  }

  private setDrawing(on: boolean): void {
    this.drawing = on;
    if (on) {
      if (this.shape === "circle") { this.center = null; this.radiusM = null; }
      else { this.points = []; this.closed = false; }
    } else if (this.shape === "polygon" && this.points.length >= 3) {
      this.closed = true;
    }
    this.drawButton.textContent = on ? (this.shape === "polygon" ? "Finish" : "Drawing…") : "Draw on map";
    this.drawButton.classList.toggle("active", on);
    this.ctx.map.setDrawing(on);
    this.redraw();
  }

  private mapClick(p: Position): boolean {
    if (!this.drawing) return false;
    if (this.shape === "circle") {
      if (!this.center) {
        this.center = p;
      } else {
        this.radiusM = distance(this.center, p);
        this.setDrawing(false);
      }
      this.toCircleFields();
    } else {
      this.points.push(p);
    }
    this.redraw();
    return true;
  }

  private finishPolygon(): boolean {
    if (!this.drawing || this.shape !== "polygon") return false;
    // the double-click's two clicks each added a point: keep one
    if (this.points.length >= 2) {
      const [a, b] = this.points.slice(-2);
      if (distance(a, b) < 1) this.points.pop();
    }
    this.setDrawing(false);
    return true;
  }

  private toCircleFields(): void {
    if (this.center) {
      this.f.lat.value = this.center[1].toFixed(4);
      this.f.lon.value = this.center[0].toFixed(4);
    }
    this.f.radius.value = this.radiusM ? (this.radiusM / NM).toFixed(1) : "";
  }

  private fromCircleFields(): void {
    const lat = Number(this.f.lat.value);
    const lon = Number(this.f.lon.value);
    const r = Number(this.f.radius.value);
    this.center = this.f.lat.value && this.f.lon.value && Number.isFinite(lat) && Number.isFinite(lon) ? [lon, lat] : null;
    this.radiusM = r > 0 ? r * NM : null;
    this.redraw();
  }

  private showBand(): void {
    const lo = parseAltitude(this.f.lower.value);
    const hi = parseAltitude(this.f.upper.value);
    this.bandShown.textContent = lo !== null && hi !== null ? `${formatBand(lo, hi)} (${Math.round(lo)}–${Math.round(hi)} m)`
      : "type FL250 or 12000 ft";
  }

  private footprint(): Footprint | null {
    if (this.shape === "circle") {
      return this.center && this.radiusM ? { type: "Circle", center: this.center, radius_m: Math.round(this.radiusM) } : null;
    }
    if (this.points.length < 3 || !this.closed) return null;
    return { type: "Polygon", coordinates: [closedCcw(this.points)] };
  }

  private redraw(): void {
    if (this.shape === "circle") {
      const r = this.radiusM ?? (this.drawing && this.center && this.hover ? distance(this.center, this.hover) : null);
      this.ctx.map.setDraft(this.center && r ? { type: "Polygon", coordinates: [circleRing(this.center, r)] } : null,
        this.center ? [this.center] : []);
    } else {
      const pts = this.drawing && this.hover ? [...this.points, this.hover] : this.points;
      const geometry = pts.length >= 3 ? { type: "Polygon" as const, coordinates: [[...pts, pts[0]]] }
        : pts.length === 2 ? { type: "LineString" as const, coordinates: pts } : null;
      this.ctx.map.setDraft(geometry, this.points);
    }
    this.keyShown.textContent = this.key.length ? `awareness key: ${this.key.length} version(s) of others' operations included` : "";
  }

  /** The volume the form describes, or a list of what is missing. */
  private volume(): Volume | string[] {
    const problems: string[] = [];
    const footprint = this.footprint();
    if (!footprint) problems.push(this.shape === "circle" ? "a centre and a radius" : "a closed polygon (3 corners or more)");
    const lo = parseAltitude(this.f.lower.value);
    const hi = parseAltitude(this.f.upper.value);
    if (lo === null || hi === null) problems.push("the band as FL250 or 12000 ft");
    const start = fromInput(this.f.start.value);
    const end = fromInput(this.f.end.value);
    if (!Number.isFinite(start) || !Number.isFinite(end)) problems.push("start and end as YYYY-MM-DD HH:MMZ (UTC)");
    if (problems.length || !footprint || lo === null || hi === null) return problems;
    if (this.applied && this.applied.texts === this.bandAndTimeTexts()) {
      const a = this.applied.volume;
      return { footprint, altitude_lower_m: a.altitude_lower_m, altitude_upper_m: a.altitude_upper_m,
               time_start: a.time_start, time_end: a.time_end };
    }
    return { footprint, altitude_lower_m: Math.round(lo * 100) / 100, altitude_upper_m: Math.round(hi * 100) / 100,
             time_start: new Date(start).toISOString(), time_end: new Date(end).toISOString() };
  }

  private body(v: Volume): Record<string, unknown> {
    const callsigns = this.f.callsigns.value.split(",").map((s) => s.trim()).filter(Boolean);
    return { volumes: [v], priority: Number(this.f.priority.value) || 0, key: this.key, callsigns,
             notes: this.f.notes.value };
  }

  private clear(): void {
    this.turn++;
    this.center = null; this.radiusM = null; this.points = []; this.closed = false; this.key = [];
    this.applied = null;
    this.toCircleFields();
    this.ctx.map.setRegions([]);
    fill(this.result);
    this.redraw();
  }

  private missing(problems: string[]): void {
    this.turn++;
    fill(this.result, h("div", { class: "error" }, `Still needed: ${problems.join(", ")}.`));
  }

  /** The line's dry run of the draft: what submitting it would meet now, storing nothing.
   *  ``lead`` (an applied suggestion, say) is shown above the answer. */
  async check(lead?: HTMLElement): Promise<void> {
    const v = this.volume();
    if (Array.isArray(v)) return this.missing(v);
    const mine = ++this.turn;
    fill(this.result, ...(lead ? [lead] : []), h("div", { class: "muted" }, "checking…"));
    let answer: Checked;
    try {
      answer = await this.ctx.api.post<Checked>("/v1/operations/check", this.body(v));
    } catch (err) {
      if (mine !== this.turn) return;
      fill(this.result, h("div", { class: "error" }, err instanceof Problem ? problemText(err) : String(err)));
      return;
    }
    if (mine !== this.turn) return;
    if (!answer.acceptable) {
      const r = answer.refusal;
      this.refused(new Problem(r.status, r.code, r), v, "check", lead);
      return;
    }
    this.ctx.map.setRegions([]);
    this.ctx.showTime(Date.parse(v.time_start));
    const overrides = answer.overrides;
    const out = h("div", { class: "checked acceptable" },
      h("div", { class: "ok" }, overrides.length ? "Acceptable" : "No conflicts — acceptable",
        answer.short_notice ? " · short notice: it starts within the notice period, so any conflict would refuse it" : "",
        ". Submit to declare."));
    if (overrides.length) {
      out.append(h("div", {}, `It would override ${overrides.length} lower-priority operation(s); their owners are told:`),
        h("ul", { class: "overrides" }, ...overrides.map((o) => h("li", {}, `${o.owner} · priority ${o.priority} · `,
          h("code", {}, o.operation_id.slice(0, 8))))));
    }
    fill(this.result, ...(lead ? [lead] : []), out);
  }

  async submit(): Promise<void> {
    const v = this.volume();
    if (Array.isArray(v)) return this.missing(v);
    const mine = ++this.turn;
    fill(this.result, h("div", { class: "muted" }, "submitting…"));
    try {
      const op = await this.ctx.api.post<Operation>("/v1/operations", this.body(v));
      if (mine !== this.turn) return;
      this.ctx.map.setRegions([]);
      this.key = [];
      this.applied = null;
      fill(this.result, h("div", { class: "ok accepted" }, `Declared: ${op.state}`,
        op.short_notice ? " (short notice)" : "", ` · ${formatBand(v.altitude_lower_m, v.altitude_upper_m)} · `,
        `${formatTime(Date.parse(v.time_start), true)} → ${formatTime(Date.parse(v.time_end), true)} · id `,
        h("code", {}, op.id.slice(0, 8))));
      this.center = null; this.radiusM = null; this.points = []; this.closed = false;
      this.toCircleFields();
      this.redraw();
      this.ctx.refresh("operations");
    } catch (err) {
      if (mine !== this.turn) return;
      if (err instanceof Problem && err.status === 409) this.refused(err, v, "submit");
      else fill(this.result, h("div", { class: "error" }, err instanceof Problem ? problemText(err) : String(err)));
    }
  }

  /** A refusal, from Check (what submitting would meet) or from Submit: the conflict regions
   *  on the map, the line's suggestions with Apply, and the awareness key it lacks. */
  private refused(p: Problem, v: Volume, asked: Asked, lead?: HTMLElement): void {
    const b = p.body as Record<string, unknown>;
    const conflicts = (b.conflicts as { owner: string; priority: number; region: Volume }[] | undefined) ?? [];
    const constraints = (b.constraints as { name: string; authority: string; region: Volume }[] | undefined) ?? [];
    const suggestions = (b.suggestions as Suggestion[] | undefined) ?? [];
    const missing = (b.missing_ovns as { operation_id: string; owner: string; ovn: string }[] | undefined) ?? [];
    this.ctx.map.setRegions([...conflicts, ...constraints].map((c) => c.region).filter(Boolean));
    this.ctx.showTime(Date.parse((conflicts[0] ?? constraints[0])?.region?.time_start ?? v.time_start));
    const out = h("div", { class: "refusal", "data-code": p.code, "data-asked": asked },
      h("div", { class: "error" }, h("strong", {}, asked === "check" ? "Would be refused: " : "Refused: "), p.message));
    if (conflicts.length || constraints.length) {
      out.append(h("ul", { class: "conflicts" },
        ...conflicts.map((c) => h("li", {}, `${c.owner} · priority ${c.priority} · too close in `,
          c.region ? `${formatBand(c.region.altitude_lower_m, c.region.altitude_upper_m)}, ${formatClock(Date.parse(c.region.time_start))}–${formatClock(Date.parse(c.region.time_end))}` : "")),
        ...constraints.map((c) => h("li", {}, `closed airspace: ${c.name || "constraint"} (${c.authority})`))));
    }
    if (suggestions.length) {
      out.append(h("div", {}, h("strong", {}, "Suggestions")), h("ul", { class: "suggestions" },
        ...suggestions.map((s) => h("li", {}, describeSuggestion(s), " ",
          h("button", { type: "button", class: "apply", onclick: () => this.apply(s) }, "Apply")))));
    } else if (!missing.length) {
      out.append(h("div", { class: "muted" }, "The line found no time or altitude shift that clears it."));
    }
    if (missing.length) {
      out.append(h("div", {}, "You must show you have seen: ",
        ...missing.map((m) => h("span", { class: "tag" }, `${m.owner} `, h("code", {}, m.operation_id.slice(0, 8))))),
        h("button", { type: "button", class: "include-key", onclick: () => {
          this.key = [...new Set([...this.key, ...missing.map((m) => m.ovn)])];
          this.redraw();
          void (asked === "check" ? this.check() : this.submit());
        } }, asked === "check" ? "Include their versions and check again" : "Include their versions and submit"));
    }
    fill(this.result, ...(lead ? [lead] : []), out);
  }

  /** Put a suggestion's volume in the form (band and times) and its key in the declaration. */
  private apply(s: Suggestion): void {
    const v = s.volumes[0];
    if (!v) return;
    this.f.lower.value = `${Math.round(v.altitude_lower_m / FT)} ft`;
    this.f.upper.value = `${Math.round(v.altitude_upper_m / FT)} ft`;
    this.f.start.value = toInput(Date.parse(v.time_start));
    this.f.end.value = toInput(Date.parse(v.time_end));
    this.applied = { volume: v, texts: this.bandAndTimeTexts() };
    this.key = s.key;
    this.showBand();
    this.redraw();
    this.ctx.map.setRegions([]);
    void this.check(h("div", { class: "ok applied" }, `Applied: ${describeSuggestion(s)}.`));
  }

  private bandAndTimeTexts(): string {
    return [this.f.lower, this.f.upper, this.f.start, this.f.end].map((i) => i.value).join("|");
  }
}

function describeSuggestion(s: Suggestion): string {
  const v = s.volumes[0];
  const detail = v ? ` → ${formatBand(v.altitude_lower_m, v.altitude_upper_m)}, ${new Date(v.time_start).toISOString().slice(0, 10)} `
    + `${formatClock(Date.parse(v.time_start))}–${formatClock(Date.parse(v.time_end))}` : "";
  if (s.kind === "time_shift") {
    const t = s.shift_s ?? 0;
    return `${t < 0 ? "earlier" : "later"} by ${formatDuration(Math.abs(t))}${detail}`;
  }
  const m = s.shift_m ?? 0;
  return `${m < 0 ? "lower" : "higher"} by ${Math.round(Math.abs(m) / FT)} ft${detail}`;
}
