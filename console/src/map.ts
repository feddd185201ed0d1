// The map: an offline MapLibre style (Natural Earth borders from world-atlas, bundled; no tile
// server, no glyphs or sprites from the web), the line's volumes, live tracks with velocity
// leaders, alerts, and the declaration being drawn. Text on the map is HTML markers (no glyphs
// are needed, and every string goes in as textContent).
import * as maplibregl from "maplibre-gl";
import "maplibre-gl/dist/maplibre-gl.css";
import workerUrl from "maplibre-gl/dist/maplibre-gl-worker.mjs?url";
import { feature, mesh } from "topojson-client";
import type { Topology } from "topojson-specification";
import bordersUrl from "world-atlas/countries-50m.json?url";
import type { Feature, FeatureCollection, Geometry, Position } from "geojson";

import type { Alert, Constraint, Operation, StateReport, Volume } from "./api";
import { h } from "./dom";
import { boundingCircle, destination, footprintPolygon, volumeFeature } from "./geo";
import { formatAltitude, formatBand, formatKt, formatTime } from "./units";

maplibregl.setWorkerUrl(workerUrl); // the bundler cannot see the worker's computed URL

export const LEADER_S = 60; // velocity leader: where the aircraft will be in one minute
const MAX_LABELS = 300;

export interface TrackView {
  id: string; // aircraftKey(party, id), or "alert:<id>:<i>" for another party's aircraft seen in an alert
  aircraftId: string | null; // the party's own id for it (null: not known to this reader)
  own: boolean;
  party: string | null;
  label: string; // callsign, or what stands for it
  state: StateReport;
  coasting: boolean;
  alerting: boolean;
}

const EMPTY: FeatureCollection = { type: "FeatureCollection", features: [] };
const collection = (features: Feature[]): FeatureCollection => ({ type: "FeatureCollection", features });

/** A state moved along its velocity to ``at`` (ms), as the line's own cycle does. */
export function extrapolate(s: StateReport, at: number, maxS = 30): Position {
  const dt = Math.max(0, Math.min(maxS, (at - Date.parse(s.time)) / 1000));
  return destination(s.lon, s.lat, s.track_deg, s.ground_speed_mps * dt);
}

const SOURCES = ["countries", "borders", "constraints", "operations", "regions", "draft",
  "draft-points", "leaders", "tracks", "alert-links", "alert-rings"] as const;
type SourceName = (typeof SOURCES)[number];

export class MapView {
  map: maplibregl.Map | null = null;
  readonly ready: Promise<void>;
  failure: string | null = null;
  private labels = new Map<string, { marker: maplibregl.Marker; el: HTMLElement }>();
  private time = Date.now();
  onClick: ((lngLat: Position) => boolean) | null = null; // true: the click was used
  onMove: ((lngLat: Position) => void) | null = null;
  onDoubleClick: (() => boolean) | null = null;
  /** The colour a party's volumes and aircraft are drawn in. */
  colorOf: (party: string | null) => string = () => OTHER;
  private areaLabels = new Map<string, maplibregl.Marker>();

  constructor(private readonly container: HTMLElement) {
    this.ready = this.init().catch((err) => {
      this.failure = String(err instanceof Error ? err.message : err);
      container.replaceChildren(h("div", { class: "map-failure", role: "alert" },
        "The map cannot be drawn in this browser (", this.failure, "). Everything else works."));
    });
  }

  private async init(): Promise<void> {
    const map = new maplibregl.Map({
      container: this.container,
      hash: "map", // the view is kept in the URL (#map=zoom/lat/lon): links open where they were
      center: [38.0, 36.3],
      zoom: 6.5,
      attributionControl: { compact: true, customAttribution: "Natural Earth" },
      style: {
        version: 8,
        sources: Object.fromEntries(SOURCES.map((s) => [s, { type: "geojson", data: EMPTY }])),
        layers: STYLE_LAYERS,
      },
    });
    this.map = map;
    map.addControl(new maplibregl.NavigationControl({ showCompass: false }), "top-left");
    map.addControl(new maplibregl.ScaleControl({ unit: "nautical" }), "bottom-left");
    await new Promise<void>((resolve) => map.once("load", () => resolve()));
    map.on("click", (e) => {
      if (this.onClick?.([e.lngLat.lng, e.lngLat.lat])) return;
      this.popupAt(e.point, e.lngLat);
    });
    map.on("mousemove", (e) => this.onMove?.([e.lngLat.lng, e.lngLat.lat]));
    map.on("dblclick", (e) => { if (this.onDoubleClick?.()) e.preventDefault(); });
    for (const layer of ["ops-active-fill", "constraints-active-fill"]) {
      map.on("mouseenter", layer, () => { map.getCanvas().style.cursor = "pointer"; });
      map.on("mouseleave", layer, () => { map.getCanvas().style.cursor = ""; });
    }
    const response = await fetch(bordersUrl);
    const topology = (await response.json()) as Topology;
    const countries = topology.objects.countries;
    this.set("countries", feature(topology, countries) as unknown as FeatureCollection);
    this.set("borders", collection([{ type: "Feature", properties: {}, geometry: mesh(topology, countries as never) }]));
    this.container.dataset.ready = "true"; // for people and tests alike: the map is usable
  }

  private set(name: SourceName, data: FeatureCollection): void {
    const source = this.map?.getSource(name) as maplibregl.GeoJSONSource | undefined;
    source?.setData(data);
  }

  /** Show volumes active at ``ms`` in full and the others faintly (the time slider). */
  setTime(ms: number): void {
    this.time = ms;
    const map = this.map;
    if (!map?.isStyleLoaded()) return;
    const active = ["all", ["<=", ["get", "t0"], ms], [">", ["get", "t1"], ms]];
    const inactive = ["any", [">", ["get", "t0"], ms], ["<=", ["get", "t1"], ms]];
    for (const base of ["ops", "constraints"]) {
      map.setFilter(`${base}-active-fill`, active as maplibregl.FilterSpecification);
      map.setFilter(`${base}-active-line`, active as maplibregl.FilterSpecification);
      map.setFilter(`${base}-inactive-line`, inactive as maplibregl.FilterSpecification);
    }
  }

  setOperations(operations: Operation[], me: string): void {
    this.set("operations", collection(operations.flatMap((o) => o.volumes.map((v, i) =>
      volumeFeature(v, { id: o.id, owner: o.owner, own: o.owner === me, color: this.colorOf(o.owner), priority: o.priority,
                         state: o.state, index: i, what: "operation" })))));
    this.setTime(this.time);
  }

  setConstraints(constraints: Constraint[], alerting: Set<string>): void {
    this.set("constraints", collection(constraints.flatMap((c) => c.volumes.map((v) =>
      volumeFeature(v, { id: c.id, name: c.name, kind: c.kind, authority: c.authority,
                         alerting: alerting.has(c.id), what: "constraint" })))));
    this.setTime(this.time);
    this.labelAreas(constraints);
  }

  /** Each constraint's name at the middle of its first volume. */
  private labelAreas(constraints: Constraint[]): void {
    if (!this.map) return;
    const seen = new Set<string>();
    for (const c of constraints) {
      if (!c.volumes.length) continue;
      seen.add(c.id);
      const at = boundingCircle(c.volumes[0].footprint).center as [number, number];
      let marker = this.areaLabels.get(c.id);
      if (!marker) {
        marker = new maplibregl.Marker({ element: h("div", { class: "area-label" }), anchor: "center" })
          .setLngLat(at).addTo(this.map);
        this.areaLabels.set(c.id, marker);
      }
      marker.getElement().textContent = `${c.kind === "no_fly" ? "NO-FLY" : "RESTRICTED"} · ${c.name || c.authority}`;
      marker.setLngLat(at);
    }
    for (const [id, marker] of this.areaLabels) {
      if (!seen.has(id)) { marker.remove(); this.areaLabels.delete(id); }
    }
  }

  /** Conflict regions from a refusal (where the draft comes too close to others); their
   *  number is kept on the map's element (``data-regions``), readable from outside like
   *  ``data-ready``. */
  setRegions(regions: Volume[]): void {
    this.set("regions", collection(regions.map((v) => volumeFeature(v, {}))));
    this.container.dataset.regions = String(regions.length);
  }

  setDraft(footprint: Geometry | null, points: Position[]): void {
    this.set("draft", collection(footprint ? [{ type: "Feature", properties: {}, geometry: footprint }] : []));
    this.set("draft-points", collection(points.map((p) => ({ type: "Feature", properties: {},
      geometry: { type: "Point", coordinates: p } }))));
  }

  /** Tracks at ``now`` (ms): symbols, one-minute leaders and HTML labels. */
  setTracks(tracks: TrackView[], now: number): void {
    const points: Feature[] = [];
    const leaders: Feature[] = [];
    const seen = new Set<string>();
    const bounds = this.map?.getBounds();
    // HTML labels cost a DOM node each: only for aircraft in view, alerting ones first
    const ordered = [...tracks].sort((a, b) => Number(b.alerting) - Number(a.alerting) || Number(b.own) - Number(a.own));
    for (const t of ordered) {
      const at = extrapolate(t.state, now);
      const ahead = destination(at[0], at[1], t.state.track_deg, t.state.ground_speed_mps * LEADER_S);
      const props = { id: t.id, own: t.own, coasting: t.coasting, alerting: t.alerting, color: this.colorOf(t.party) };
      points.push({ type: "Feature", properties: props, geometry: { type: "Point", coordinates: at } });
      leaders.push({ type: "Feature", properties: props, geometry: { type: "LineString", coordinates: [at, ahead] } });
      if (seen.size < MAX_LABELS && (!bounds || bounds.contains(at as [number, number]))) {
        seen.add(t.id);
        this.label(t, at);
      }
    }
    for (const [id, { marker }] of this.labels) {
      if (!seen.has(id)) { marker.remove(); this.labels.delete(id); }
    }
    this.set("tracks", collection(points));
    this.set("leaders", collection(leaders));
  }

  private label(t: TrackView, at: Position): void {
    if (!this.map) return;
    let entry = this.labels.get(t.id);
    if (!entry) {
      const el = h("div", { class: "track-label", "data-aircraft": t.aircraftId ?? t.id, "data-key": t.id },
        h("span", { class: "cs" }), h("span", { class: "fl" }), h("span", { class: "gs" }));
      const marker = new maplibregl.Marker({ element: el, anchor: "top-left", offset: [8, 6] })
        .setLngLat(at as [number, number]).addTo(this.map);
      entry = { marker, el };
      this.labels.set(t.id, entry);
    }
    const [cs, fl, gs] = Array.from(entry.el.children) as HTMLElement[];
    cs.textContent = t.label;
    fl.textContent = formatAltitude(t.state.altitude_m);
    gs.textContent = formatKt(t.state.ground_speed_mps);
    entry.el.classList.toggle("own", t.own);
    entry.el.style.color = t.alerting ? "" : this.colorOf(t.party);
    entry.el.classList.toggle("alerting", t.alerting);
    entry.el.classList.toggle("coasting", t.coasting);
    entry.el.dataset.lon = at[0].toFixed(6);
    entry.el.dataset.lat = at[1].toFixed(6);
    entry.marker.setLngLat(at as [number, number]);
  }

  /** Raised alerts: a ring on each aircraft and a line between a conflicting pair. */
  setAlerts(alerts: Alert[], positions: (a: Alert) => Position[]): void {
    const rings: Feature[] = [];
    const links: Feature[] = [];
    for (const a of alerts) {
      const at = positions(a);
      for (const p of at) rings.push({ type: "Feature", properties: { id: a.id, kind: a.kind }, geometry: { type: "Point", coordinates: p } });
      if (at.length === 2) links.push({ type: "Feature", properties: { id: a.id }, geometry: { type: "LineString", coordinates: at } });
    }
    this.set("alert-rings", collection(rings));
    this.set("alert-links", collection(links));
  }

  flyTo(p: Position, zoom?: number): void {
    this.map?.easeTo({ center: p as [number, number], zoom: zoom ?? Math.max(this.map.getZoom(), 8) });
  }

  setDrawing(on: boolean): void {
    const map = this.map;
    if (!map) return;
    if (on) map.doubleClickZoom.disable(); else map.doubleClickZoom.enable();
    map.getCanvas().style.cursor = on ? "crosshair" : "";
  }

  /** A popup describing the volumes under a click (text only). */
  private popupAt(point: maplibregl.Point, lngLat: maplibregl.LngLat): void {
    const map = this.map;
    if (!map) return;
    const found = map.queryRenderedFeatures(point, { layers: ["ops-active-fill", "constraints-active-fill"] });
    if (!found.length) return;
    const body = h("div", { class: "popup" });
    for (const f of found.slice(0, 4)) {
      const p = f.properties as Record<string, string | number | boolean>;
      const title = p.what === "constraint" ? `${p.kind} · ${p.name || "constraint"} (${p.authority})`
        : `${p.own ? "your operation" : `operation of ${p.owner}`} · priority ${p.priority} · ${p.state}`;
      body.append(h("div", { class: "popup-item" }, h("strong", {}, title),
        h("div", {}, formatBand(Number(p.lower), Number(p.upper))),
        h("div", {}, `${formatTime(Number(p.t0), true)} → ${formatTime(Number(p.t1), true)}`)));
    }
    new maplibregl.Popup({ closeButton: true, maxWidth: "320px" }).setLngLat(lngLat).setDOMContent(body).addTo(map);
  }
}

export function footprintGeometry(v: Volume): Geometry {
  return footprintPolygon(v.footprint);
}

export const OWN = "#38bdf8";
export const OTHER = "#f59e0b";
/** Parties' colours where there is no "own" (observers, authorities). */
export const PALETTE = ["#38bdf8", "#f59e0b", "#a78bfa", "#34d399", "#f472b6", "#facc15"];
const CLOSED = "#ef4444";
const ALERT = "#ff2d55";
const DRAFT = "#4ade80";

const STYLE_LAYERS: maplibregl.LayerSpecification[] = [
  { id: "background", type: "background", paint: { "background-color": "#0b1e2d" } },
  { id: "countries-fill", type: "fill", source: "countries", paint: { "fill-color": "#1f2a30" } },
  { id: "borders", type: "line", source: "borders", paint: { "line-color": "#5b6b73", "line-width": 0.8 } },
  { id: "constraints-inactive-line", type: "line", source: "constraints",
    paint: { "line-color": CLOSED, "line-opacity": 0.35, "line-width": 1, "line-dasharray": [2, 3] } },
  { id: "constraints-active-fill", type: "fill", source: "constraints", paint: { "fill-color": CLOSED, "fill-opacity": 0.18 } },
  { id: "constraints-active-line", type: "line", source: "constraints",
    paint: { "line-color": ["case", ["get", "alerting"], ALERT, CLOSED],
             "line-width": ["case", ["get", "alerting"], 4, 2], "line-dasharray": [4, 2] } },
  { id: "ops-inactive-line", type: "line", source: "operations",
    paint: { "line-color": ["get", "color"], "line-opacity": 0.35, "line-width": 1,
             "line-dasharray": [2, 3] } },
  { id: "ops-active-fill", type: "fill", source: "operations",
    paint: { "fill-color": ["get", "color"], "fill-opacity": 0.16 } },
  { id: "ops-active-line", type: "line", source: "operations",
    paint: { "line-color": ["get", "color"], "line-width": 1.6 } },
  { id: "regions-fill", type: "fill", source: "regions", paint: { "fill-color": "#e879f9", "fill-opacity": 0.35 } },
  { id: "regions-line", type: "line", source: "regions", paint: { "line-color": "#e879f9", "line-width": 2 } },
  { id: "draft-fill", type: "fill", source: "draft", paint: { "fill-color": DRAFT, "fill-opacity": 0.15 } },
  { id: "draft-line", type: "line", source: "draft", paint: { "line-color": DRAFT, "line-width": 2, "line-dasharray": [3, 2] } },
  { id: "draft-points", type: "circle", source: "draft-points",
    paint: { "circle-radius": 4, "circle-color": DRAFT, "circle-stroke-color": "#000", "circle-stroke-width": 1 } },
  { id: "alert-links", type: "line", source: "alert-links",
    paint: { "line-color": ALERT, "line-width": 2, "line-dasharray": [2, 2] } },
  { id: "leaders", type: "line", source: "leaders",
    paint: { "line-color": ["case", ["get", "alerting"], ALERT, ["get", "color"]], "line-width": 1.5 } },
  { id: "alert-rings", type: "circle", source: "alert-rings",
    paint: { "circle-radius": 14, "circle-color": "rgba(0,0,0,0)", "circle-stroke-color": ALERT, "circle-stroke-width": 2.5 } },
  { id: "tracks", type: "circle", source: "tracks",
    paint: { "circle-radius": 5, "circle-color": ["get", "color"],
             "circle-opacity": ["case", ["get", "coasting"], 0.4, 1],
             "circle-stroke-color": "#000", "circle-stroke-width": 1 } },
];
