import type { Ctx } from "../pipedreamer";

export default async function run(ctx: Ctx, input: { url?: string }) {
  const url = input.url ?? "http://127.0.0.1:8787/repos";
  const res = await ctx.fetch(url, { headers: { accept: "application/json" } });
  if (!res.ok) throw new Error(`${url} answered ${res.status}`);
  return await res.json();
}
