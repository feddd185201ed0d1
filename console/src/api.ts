// The line's HTTP API as the console uses it: bearer token, JSON, RFC 9457 problems.
import type { Position } from "geojson";

export type Footprint =
  | { type: "Polygon"; coordinates: Position[][] }
  | { type: "Circle"; center: Position; radius_m: number };

export interface Volume {
  footprint: Footprint;
  altitude_lower_m: number;
  altitude_upper_m: number;
  time_start: string;
  time_end: string;
}

export interface Party { name: string; role: "operator" | "authority" | "observer"; active: boolean }

export interface Operation {
  id: string; owner: string; volumes: Volume[]; priority: number; state: string; ovn: string;
  short_notice: boolean; callsigns?: string[]; notes?: string;
}

export interface Constraint {
  id: string; authority: string; kind: string; name: string; volumes: Volume[];
  applies_to: "all" | string[]; exempt: string[]; state: string; ovn: string;
}

export interface StateReport {
  time: string; lat: number; lon: number; altitude_m: number;
  ground_speed_mps: number; track_deg: number; vertical_rate_mps: number;
}

export interface Track extends StateReport { aircraft_id: string; party: string; coasting: boolean }

/** The line's name for one aircraft: ids are each party's own, so two parties' aircraft may
 * share an id (an observer sees both); party names hold no "/". */
export const aircraftKey = (party: string, id: string): string => `${party}/${id}`;

export interface Aircraft {
  id: string; party: string; icao24: string | null; callsign: string | null;
  operation_id: string | null;
}

export interface AlertAircraft {
  own: boolean; aircraft_id?: string; party?: string; callsign?: string | null;
  state: StateReport;
}

export interface Alert {
  id: string; kind: string; state: "raised" | "cleared"; raised_at: string; updated_at: string;
  cleared_at: string | null; aircraft?: AlertAircraft[];
  encounter?: { t_in_s: number; t_out_s: number; tcpa_s: number; dcpa_m: number;
                vertical_at_cpa_m: number; lost_now: boolean };
  incursion?: { inside_now: boolean; time_to_entry_s: number };
  constraint?: { id: string; name: string; kind: string; authority: string };
  operation_id?: string; operation_owner?: string;
}

export interface Recipient {
  party: string; status: "sent" | "delivered" | "replied"; delivered_at: string | null;
  reply: string | null; reply_text: string | null; replied_at: string | null;
  escalations: number; next_escalation_at: string | null;
}

export interface Message {
  id: string; from: string; to: string; urgency: "routine" | "urgent" | "distress";
  subject: string; body: string; refs: string[]; time: string; recipients: Recipient[];
}

export interface Health {
  status: string;
  separation_profile: { name: string; horizontal_m: number; vertical_m: number; look_ahead_s: number };
  notice_period_s: number;
}

export interface LineEvent { seq: number; kind: string; time: string; data: Record<string, unknown> }

/** An RFC 9457 problem the line answered with (or a network failure, status 0). */
export class Problem extends Error {
  constructor(public status: number, public code: string, public body: Record<string, unknown>) {
    super(String(body.detail ?? body.title ?? code));
  }
}

export class Api {
  constructor(public readonly token: string, private readonly onUnauthorized: () => void) {}

  headers(extra: Record<string, string> = {}): Record<string, string> {
    return { Authorization: `Bearer ${this.token}`, ...extra };
  }

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    let response: Response;
    try {
      response = await fetch(path, {
        method,
        headers: this.headers(body === undefined ? {} : { "Content-Type": "application/json" }),
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
      throw new Problem(0, "network", { detail: `the line cannot be reached (${err})` });
    }
    const text = await response.text();
    let json: Record<string, unknown> = {};
    try {
      json = text ? JSON.parse(text) : {};
    } catch {
      json = { detail: text.slice(0, 200) };
    }
    if (!response.ok) {
      if (response.status === 401) this.onUnauthorized();
      throw new Problem(response.status, String(json.code ?? response.status), json);
    }
    return json as T;
  }

  get<T>(path: string): Promise<T> { return this.request<T>("GET", path); }
  post<T>(path: string, body: unknown): Promise<T> { return this.request<T>("POST", path, body); }
}

/** Who a token belongs to, or a Problem (401 for an unknown token). */
export async function whoAmI(token: string): Promise<Party> {
  return new Api(token, () => {}).get<Party>("/v1/parties/me");
}
