import type { Ctx } from "../pipedreamer";

export default async function run(ctx: Ctx, input: { name?: string }) {
  const name = input.name ?? "world";
  ctx.log.info(`greeting ${name}`);
  return { greeting: `Hello, ${name}!` };
}
