// What the console knows of the line, and the context every panel is given.
import type {
  Aircraft, Alert, Api, Constraint, Health, Message, Operation, Party, Track,
} from "./api";
import type { MapView } from "./map";

export interface State {
  me: Party;
  parties: Party[];
  health: Health | null;
  operations: Operation[];
  constraints: Constraint[];
  tracks: Track[];
  aircraft: Map<string, Aircraft>; // by aircraftKey(party, id)
  alerts: Alert[]; // newest first: raised and recently cleared
  messages: Message[]; // newest first
}

export type Topic = "operations" | "constraints" | "tracks" | "aircraft" | "alerts" | "messages"
  | "parties" | "ledger";

export interface Ctx {
  api: Api;
  state: State;
  map: MapView;
  /** Fetch a topic again soon (requests for the same topic are merged). */
  refresh(topic: Topic): void;
  /** Redraw what depends on the state (cheap; batched to one frame). */
  render(): void;
  /** Move the time slider to ``ms`` (volumes active then are drawn in full). */
  showTime(ms: number): void;
  /** A short notice in the status line. */
  notify(text: string, kind?: "info" | "error"): void;
}
