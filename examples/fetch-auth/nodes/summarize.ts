import type { Ctx } from "../pipedreamer";

export default async function run(ctx: Ctx, body: { items?: { name: string; stars: number }[]; authorized?: boolean }) {
  const items = body.items ?? [];
  ctx.log.info(`summarizing ${items.length} items`);
  return { authorized: body.authorized ?? false, count: items.length, top: items.sort((a, b) => b.stars - a.stars)[0]?.name ?? null };
}
