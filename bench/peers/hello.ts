// examples/hello's three nodes (parse → greet → format, with text.ts's titleCase) as plain
// functions in one Deno isolate, behind POST /run: the peer that has *no* per-run isolation.
// Every run shares the module, its globals and the heap. Run by bench/peers.sh as
//   deno run --allow-net=127.0.0.1:PORT bench/peers/hello.ts PORT

type Log = { info: (...args: unknown[]) => void };
type Ctx = { run: { id: string }; log: Log };

// nodes/text.ts
function titleCase(s: string): string {
  return s.replace(/\b\w/g, (c) => c.toUpperCase());
}

// nodes/parse.ts
async function parse(ctx: Ctx, input: { name?: string }): Promise<{ name: string }> {
  const name = (input.name ?? "world").trim() || "world";
  ctx.log.info("parsed name", name);
  return { name };
}

// nodes/greet.ts
async function greet(ctx: Ctx, input: { name: string }) {
  return { greeting: `Hello, ${titleCase(input.name)}!`, run: ctx.run.id };
}

// nodes/format.ts
async function format(_ctx: Ctx, input: { greeting: string; run: string }) {
  return { message: input.greeting, length: input.greeting.length };
}

const port = Number(Deno.args[0]);
const headers = { "content-type": "application/json" };

Deno.serve({ hostname: "127.0.0.1", port, onListen() {} }, async (req) => {
  const path = new URL(req.url).pathname;
  if (req.method !== "POST" || path !== "/run") {
    return new Response(JSON.stringify({ error: "not found" }), { status: 404, headers });
  }
  const id = crypto.randomUUID();
  // The engine keeps a run's log lines in its record; here they are kept for the run and dropped.
  const lines: unknown[][] = [];
  const ctx: Ctx = { run: { id }, log: { info: (...args) => void lines.push(args) } };
  try {
    const input = await req.json();
    const output = await format(ctx, await greet(ctx, await parse(ctx, input)));
    return new Response(JSON.stringify({ run_id: id, status: "succeeded", output }), { headers });
  } catch (e) {
    const error = e instanceof Error ? e.message : String(e);
    return new Response(JSON.stringify({ run_id: id, status: "failed", error }), { status: 500, headers });
  }
});
