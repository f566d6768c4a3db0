// The error classes node code sees on `ctx.errors` and that the node: modules and the CommonJS
// runtime throw, one per realm (so `instanceof` holds across them), frozen by lockdown.
// `NotCapable` (like Deno's `Deno.errors.NotCapable`): the sandbox refuses the operation (a
// fetch outside the allow-list, a module that needs files, processes or sockets).
export class NotCapable extends Error {}
Object.defineProperty(NotCapable.prototype, "name", { value: "NotCapable", writable: true, configurable: true });
export class TimeoutError extends Error {}
Object.defineProperty(TimeoutError.prototype, "name", { value: "TimeoutError", writable: true, configurable: true });
