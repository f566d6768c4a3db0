// Types for the `ctx` object Pipedreamer passes to every node:
//   export default async function run(ctx: Ctx, input: In): Promise<Out>
// Import with `import type { Ctx } from "../pipedreamer";` (types only; nothing is loaded).
// A node with `retries: N` in workflow.yaml is called again (with the same frozen `ctx` and
// the same input) when it throws or times out, at most N more times; module-level state is per
// run, so it carries over from one attempt to the next. A timed-out attempt is abandoned, not undone
// (a request it sent may still complete): make retried nodes idempotent.

/** A WHATWG-like response; the body is read in full before `ctx.fetch` resolves. */
export interface FetchResponse {
  readonly status: number;
  readonly statusText: string;
  readonly ok: boolean;
  readonly url: string;
  readonly redirected: boolean;
  readonly headers: {
    get(name: string): string | null;
    has(name: string): boolean;
    entries(): IterableIterator<[string, string]>;
    forEach(cb: (value: string, name: string) => void): void;
  };
  readonly bodyUsed: boolean;
  text(): Promise<string>;
  json<T = unknown>(): Promise<T>;
}

export interface FetchInit {
  method?: string;
  headers?: Record<string, string> | [string, string][];
  /** A string is sent as is; any other value is sent as JSON. */
  body?: string | unknown;
}

export interface Log {
  debug(...args: unknown[]): void;
  info(...args: unknown[]): void;
  warn(...args: unknown[]): void;
  error(...args: unknown[]): void;
}

/** JSON values: what nodes receive and may return. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export interface Ctx {
  /** Read-only (deeply frozen) secrets from `.secrets.yaml` or `/app/secrets`. */
  readonly secrets: { readonly [key: string]: any };
  /**
   * HTTP(S) requests, limited to the hosts in `fetch.allow`; at most 8 in flight per run, bodies
   * counted toward the run's memory limit. Credentials from `fetch.auth` are added by the engine
   * for their own origin (scheme, host and port) only and are never visible here.
   */
  fetch(url: string, init?: FetchInit): Promise<FetchResponse>;
  /**
   * Error classes `ctx.fetch` throws: `NotCapable` when the policy refuses the request (its
   * message says what to add to workflow.yaml), `TimeoutError` when it takes too long. Network
   * failures are `TypeError`s, a body over the size or memory limit a `RangeError`.
   */
  readonly errors: {
    readonly NotCapable: new (message?: string) => Error;
    readonly TimeoutError: new (message?: string) => Error;
  };
  /**
   * Structured log lines tagged with the run and node id; secret values are redacted. Lines
   * (and `console` output) are also kept with the run's record (at most 1,000 per run).
   */
  readonly log: Log;
  /**
   * Reports how far the node is, recorded with the run (`pipedreamer runs show`, the
   * dashboard's run page): `percent` from 0 to 100 (clamped; a non-number is a `TypeError`),
   * an optional message. Secret values are redacted.
   */
  progress(percent: number, message?: string): void;
  /**
   * Records a named value with the run; a later call with the same name replaces it. The value
   * must be JSON-serializable (else a `TypeError`); at most 32 names per run and 64 KiB of JSON
   * each (else a `RangeError`). Secret values are redacted.
   */
  output(name: string, value: unknown): void;
  /** The current run: its id and what started it (`http`, `cron:<name>`, `webhook:<name>`, `queue:<subject>`). */
  readonly run: { readonly id: string; readonly trigger: string };
  /** The node being called. */
  readonly node: { readonly id: string };
}
