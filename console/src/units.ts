// Aviation units at the edge (DESIGN.md "Edges"): the API speaks SI, people read ft/FL, NM, kt.

export const FT = 0.3048; // international foot, exact
export const NM = 1852; // international nautical mile, exact
export const KT = NM / 3600; // m/s

/** Flight level (hundreds of feet) of an altitude in metres, rounded. */
export function flightLevel(m: number): number {
  return Math.round(m / FT / 100);
}

/** "FL250" at and above 5000 ft, "3200 ft" below (where flight levels read oddly). */
export function formatAltitude(m: number): string {
  const feet = m / FT;
  if (feet >= 5000) return `FL${String(flightLevel(m)).padStart(3, "0")}`;
  return `${Math.round(feet / 10) * 10} ft`;
}

export function formatBand(lower: number, upper: number): string {
  return `${formatAltitude(lower)}–${formatAltitude(upper)}`;
}

export function formatNm(m: number): string {
  const nm = m / NM;
  return `${nm < 10 ? nm.toFixed(1) : Math.round(nm)} NM`;
}

export function formatKt(mps: number): string {
  return `${Math.round(mps / KT)} kt`;
}

/** Seconds as "45 s", "2 min 05 s", "1 h 10 min". */
export function formatDuration(s: number): string {
  const sign = s < 0 ? "-" : "";
  s = Math.abs(Math.round(s));
  if (s < 60) return `${sign}${s} s`;
  if (s < 3600) return `${sign}${Math.floor(s / 60)} min ${String(s % 60).padStart(2, "0")} s`;
  return `${sign}${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")} min`;
}

/** A running clock: "0:42", "12:05". */
export function formatTimer(s: number): string {
  s = Math.max(0, Math.floor(s));
  const m = Math.floor(s / 60);
  return `${m}:${String(s % 60).padStart(2, "0")}`;
}

/**
 * An altitude typed by a person, to metres: "FL250" or "fl 250" is a flight level, "12000",
 * "12000 ft" or "12000ft" are feet. Returns null when it is neither.
 */
export function parseAltitude(text: string): number | null {
  const t = text.trim().toLowerCase().replace(/\s+/g, "");
  let m = /^fl(\d{1,3})$/.exec(t);
  if (m) return Number(m[1]) * 100 * FT;
  m = /^(-?\d+(?:\.\d+)?)(ft|')?$/.exec(t);
  if (m) return Number(m[1]) * FT;
  return null;
}

/** UTC clock time "06:30Z", with seconds only when there are some ("06:30:15Z"). */
export function formatClock(ms: number): string {
  const iso = new Date(ms).toISOString();
  return `${iso.slice(11, iso.slice(17, 19) === "00" ? 16 : 19)}Z`;
}

/** UTC time as "06:30:00Z" (today) or "2026-11-28 06:30Z". */
export function formatTime(ms: number, withDate = false): string {
  const iso = new Date(ms).toISOString();
  return withDate ? `${iso.slice(0, 10)} ${iso.slice(11, 16)}Z` : `${iso.slice(11, 19)}Z`;
}
