// The party's event stream (GET /v1/events as Server-Sent Events), read with fetch.
//
// EventSource cannot send an Authorization header, and a token in a URL ends up in logs and
// history; so the stream is read with fetch and a ReadableStream, parsed here (WHATWG HTML
// "Server-sent events": id/event/data/retry fields, ":" comments, a blank line ends an event).
// On any end or error it reconnects by itself with Last-Event-ID, so nothing is missed: the
// line replays everything after that sequence number, in order.
import type { LineEvent } from "./api";

export type StreamState = "connecting" | "live" | "reconnecting" | "stopped";

export interface StreamOptions {
  token: string;
  after: number; // the last sequence number already handled
  onEvent: (e: LineEvent) => void;
  onState: (s: StreamState, detail?: string) => void;
  onUnauthorized: () => void;
}

const MAX_BACKOFF_MS = 10_000;

export class EventStream {
  private lastSeq: number;
  private retryMs = 1000; // the server's "retry:" replaces this
  private failures = 0;
  private abort: AbortController | null = null;
  private stopped = false;
  private wake: (() => void) | null = null;

  constructor(private readonly opts: StreamOptions) {
    this.lastSeq = opts.after;
  }

  get seq(): number { return this.lastSeq; }

  start(): void { void this.run(); }

  stop(): void {
    this.stopped = true;
    this.abort?.abort();
    this.opts.onState("stopped");
  }

  /** Drop the connection, or cut a back-off short: connect again now and catch up. */
  reconnect(): void {
    this.abort?.abort();
    this.wake?.();
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      this.opts.onState(this.failures ? "reconnecting" : "connecting");
      let detail = "stream ended";
      try {
        detail = await this.connectOnce();
      } catch (err) {
        detail = err instanceof Error ? err.message : String(err);
      }
      if (this.stopped) return;
      this.failures += 1;
      this.opts.onState("reconnecting", detail);
      const wait = Math.min(MAX_BACKOFF_MS, this.retryMs * 2 ** Math.min(this.failures - 1, 4));
      await new Promise<void>((r) => {
        this.wake = r;
        setTimeout(r, wait);
      });
      this.wake = null;
    }
  }

  private async connectOnce(): Promise<string> {
    this.abort = new AbortController();
    const headers: Record<string, string> = {
      Authorization: `Bearer ${this.opts.token}`,
      Accept: "text/event-stream",
    };
    if (this.lastSeq > 0) headers["Last-Event-ID"] = String(this.lastSeq);
    const response = await fetch("/v1/events", { headers, signal: this.abort.signal, cache: "no-store" });
    if (response.status === 401) {
      this.stopped = true;
      this.opts.onUnauthorized();
      return "unauthorized";
    }
    if (!response.ok || !response.body) return `HTTP ${response.status}`;
    this.failures = 0;
    this.opts.onState("live");
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    let frame: { id?: string; event?: string; data: string[] } = { data: [] };
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return "stream ended";
      buffer += value;
      let nl: number;
      while ((nl = buffer.search(/\r\n|\r|\n/)) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + (buffer.startsWith("\r\n", nl) ? 2 : 1));
        if (line === "") {
          this.dispatch(frame);
          frame = { data: [] };
        } else if (!line.startsWith(":")) {
          const colon = line.indexOf(":");
          const field = colon < 0 ? line : line.slice(0, colon);
          let v = colon < 0 ? "" : line.slice(colon + 1);
          if (v.startsWith(" ")) v = v.slice(1);
          if (field === "data") frame.data.push(v);
          else if (field === "id") frame.id = v;
          else if (field === "event") frame.event = v;
          else if (field === "retry" && /^\d+$/.test(v)) this.retryMs = Number(v);
        }
      }
    }
  }

  private dispatch(frame: { id?: string; event?: string; data: string[] }): void {
    if (!frame.data.length) return;
    let event: LineEvent;
    try {
      event = JSON.parse(frame.data.join("\n"));
    } catch {
      return; // not ours to guess at
    }
    if (typeof event.seq !== "number" || event.seq <= this.lastSeq) return; // exactly once
    this.lastSeq = event.seq;
    this.opts.onEvent(event);
  }
}
