import type { Ctx } from "../pipedreamer";

interface Input { name?: string }

export default async function run(ctx: Ctx, input: Input): Promise<{ name: string }> {
  const name = (input.name ?? "world").trim() || "world";
  ctx.log.info("parsed name", name);
  return { name };
}
