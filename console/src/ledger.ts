// The ledger's signed head, and whether this browser could verify it.
//
// GET /v1/ledger/head answers {tree_size, root_hash, timestamp_ms, signature, key_id} and
// GET /v1/ledger/key the line's public key. The signature covers the RFC 8785 canonical JSON
// {"format":"deconfliction-tree-head/v1","root_hash":…,"timestamp_ms":…,"tree_size":…}
// (engine/tree_head.py); WebCrypto checks it with Ed25519 where the browser has it. A head
// that shrinks is reported: the log is append-only.
import type { Api } from "./api";
import { Problem } from "./api";
import { fill, h } from "./dom";
import { formatTime } from "./units";

const FORMAT = "deconfliction-tree-head/v1";

interface Head {
  tree_size: number; root_hash: string; signature: string; key_id: string;
  timestamp_ms?: number; timestamp?: string;
}

type Verdict = { state: "verified" | "invalid" | "unchecked" | "unavailable" | "error"; why: string };

const b64 = (s: string): Uint8Array<ArrayBuffer> => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
const hex = (b: ArrayBuffer) => Array.from(new Uint8Array(b), (x) => x.toString(16).padStart(2, "0")).join("");

/** The public key in the key endpoint's answer: raw 32 bytes (base64) or PEM SubjectPublicKeyInfo. */
function publicKey(answer: unknown): { raw?: Uint8Array<ArrayBuffer>; spki?: Uint8Array<ArrayBuffer> } | null {
  const strings: string[] = [];
  const walk = (v: unknown) => {
    if (typeof v === "string") strings.push(v);
    else if (v && typeof v === "object") Object.values(v).forEach(walk);
  };
  walk(answer);
  for (const s of strings) {
    const pem = /-----BEGIN PUBLIC KEY-----([\s\S]+?)-----END PUBLIC KEY-----/.exec(s);
    if (pem) return { spki: b64(pem[1].replace(/\s+/g, "")) };
  }
  for (const s of strings) {
    if (/^[A-Za-z0-9+/]{43}=$/.test(s)) return { raw: b64(s) };
  }
  return null;
}

export class Ledger {
  private last: Head | null = null;
  private verdict: Verdict = { state: "unavailable", why: "" };
  private key: CryptoKey | null = null;
  private keyId: string | null = null;

  constructor(private readonly api: Api, private readonly el: HTMLElement) {}

  async poll(): Promise<void> {
    let head: Head;
    try {
      head = await this.api.get<Head>("/v1/ledger/head");
    } catch (err) {
      this.verdict = err instanceof Problem && (err.status === 404 || err.status === 405)
        ? { state: "unavailable", why: "this line has no ledger endpoint" }
        : { state: "error", why: err instanceof Error ? err.message : String(err) };
      this.show(null);
      return;
    }
    const previous = this.last;
    this.last = head;
    this.verdict = await this.verify(head);
    if (previous && head.tree_size < previous.tree_size) {
      this.verdict = { state: "invalid", why: `the ledger shrank from ${previous.tree_size} to ${head.tree_size} entries` };
    }
    this.show(head);
  }

  private async verify(head: Head): Promise<Verdict> {
    const ms = head.timestamp_ms ?? (head.timestamp ? Date.parse(head.timestamp) : NaN);
    if (!Number.isInteger(ms)) return { state: "unchecked", why: "the head has no timestamp in ms" };
    if (!crypto?.subtle) return { state: "unchecked", why: "WebCrypto needs a secure context (https or localhost)" };
    try {
      if (!this.key || this.keyId !== head.key_id) {
        const found = publicKey(await this.api.get<unknown>("/v1/ledger/key"));
        if (!found) return { state: "unchecked", why: "no public key in GET /v1/ledger/key" };
        const key = found.raw
          ? await crypto.subtle.importKey("raw", found.raw, { name: "Ed25519" }, true, ["verify"])
          : await crypto.subtle.importKey("spki", found.spki!, { name: "Ed25519" }, true, ["verify"]);
        const raw = await crypto.subtle.exportKey("raw", key);
        const id = hex(await crypto.subtle.digest("SHA-256", raw)); // key id = SHA-256 of the raw key
        if (id !== head.key_id) return { state: "invalid", why: `signed by key ${head.key_id.slice(0, 12)}…, the line's key is ${id.slice(0, 12)}…` };
        this.key = key;
        this.keyId = id;
      }
      // RFC 8785 for these four members: keys in order, no spaces, integers and hex strings
      const message = `{"format":${JSON.stringify(FORMAT)},"root_hash":${JSON.stringify(head.root_hash)},`
        + `"timestamp_ms":${ms},"tree_size":${head.tree_size}}`;
      const ok = await crypto.subtle.verify({ name: "Ed25519" }, this.key, b64(head.signature),
                                            new TextEncoder().encode(message));
      return ok ? { state: "verified", why: "Ed25519 signature checked in this browser" }
        : { state: "invalid", why: "the signature does not match the head" };
    } catch (err) {
      if (err instanceof Problem) return { state: "unchecked", why: `GET /v1/ledger/key: ${err.message}` };
      return { state: "unchecked", why: `this browser cannot check Ed25519 (${err instanceof Error ? err.message : err})` };
    }
  }

  private show(head: Head | null): void {
    const v = this.verdict;
    const label: Record<Verdict["state"], string> = {
      verified: "✔ verified", invalid: "✘ NOT VALID", unchecked: "not verified", unavailable: "ledger unavailable",
      error: "ledger unreachable",
    };
    this.el.dataset.state = v.state;
    this.el.title = v.why;
    if (!head) {
      fill(this.el, h("span", { class: "ledger-state" }, label[v.state]));
      return;
    }
    const ms = head.timestamp_ms ?? Date.parse(head.timestamp ?? "");
    fill(this.el, "Ledger ", h("span", { class: "ledger-size" }, `#${head.tree_size}`), " ",
      h("code", { class: "ledger-root", title: head.root_hash }, head.root_hash.slice(0, 12)), " ",
      Number.isFinite(ms) ? formatTime(ms) : "", " ", h("span", { class: "ledger-state" }, label[v.state]));
  }
}
