// Spherical geometry for drawing only (the line's own geometry is WGS84, on the server):
// circles as polygons, velocity leaders, distances for the "check" preview.
import type { Feature, Polygon, Position } from "geojson";
import type { Footprint, Volume } from "./api";

const R = 6371008.8; // mean Earth radius, m
const rad = (d: number) => (d * Math.PI) / 180;
const deg = (r: number) => (r * 180) / Math.PI;

/** The point ``dist`` metres from (lon, lat) along initial bearing ``bearing`` (° true). */
export function destination(lon: number, lat: number, bearing: number, dist: number): Position {
  const d = dist / R;
  const b = rad(bearing);
  const p1 = rad(lat);
  const l1 = rad(lon);
  const p2 = Math.asin(Math.sin(p1) * Math.cos(d) + Math.cos(p1) * Math.sin(d) * Math.cos(b));
  const l2 = l1 + Math.atan2(Math.sin(b) * Math.sin(d) * Math.cos(p1),
                             Math.cos(d) - Math.sin(p1) * Math.sin(p2));
  return [((deg(l2) + 540) % 360) - 180, deg(p2)];
}

export function distance(a: Position, b: Position): number {
  const dp = rad(b[1] - a[1]);
  const dl = rad(b[0] - a[0]);
  const s = Math.sin(dp / 2) ** 2 + Math.cos(rad(a[1])) * Math.cos(rad(b[1])) * Math.sin(dl / 2) ** 2;
  return 2 * R * Math.asin(Math.min(1, Math.sqrt(s)));
}

export function circleRing(center: Position, radius: number, n = 72): Position[] {
  const ring: Position[] = [];
  for (let i = 0; i < n; i++) ring.push(destination(center[0], center[1], -(360 * i) / n, radius));
  ring.push(ring[0]);
  return ring;
}

/** A footprint (GeoJSON Polygon or the API's Circle) as a drawable Polygon. */
export function footprintPolygon(fp: Footprint): Polygon {
  if (fp.type === "Circle") return { type: "Polygon", coordinates: [circleRing(fp.center, fp.radius_m)] };
  return { type: "Polygon", coordinates: fp.coordinates };
}

/** Centre and radius of a circle that holds the footprint (for area queries). */
export function boundingCircle(fp: Footprint): { center: Position; radius: number } {
  if (fp.type === "Circle") return { center: fp.center, radius: fp.radius_m };
  const ring = fp.coordinates[0].slice(0, -1);
  const center: Position = [
    ring.reduce((s, p) => s + p[0], 0) / ring.length,
    ring.reduce((s, p) => s + p[1], 0) / ring.length,
  ];
  return { center, radius: Math.max(...ring.map((p) => distance(center, p))) };
}

export function volumeFeature(v: Volume, properties: Record<string, unknown>): Feature<Polygon> {
  return {
    type: "Feature",
    geometry: footprintPolygon(v.footprint),
    properties: {
      ...properties,
      t0: Date.parse(v.time_start),
      t1: Date.parse(v.time_end),
      lower: v.altitude_lower_m,
      upper: v.altitude_upper_m,
    },
  };
}

/** A ring made counter-clockwise (RFC 7946 §3.1.6 exterior rings) and closed. */
export function closedCcw(points: Position[]): Position[] {
  const pts = points.slice();
  let s = 0;
  for (let i = 0; i < pts.length; i++) {
    const [x1, y1] = pts[i];
    const [x2, y2] = pts[(i + 1) % pts.length];
    s += x1 * y2 - x2 * y1;
  }
  if (s < 0) pts.reverse();
  return [...pts, pts[0]];
}
