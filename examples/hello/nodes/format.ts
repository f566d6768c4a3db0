import type { Ctx } from "../pipedreamer";

export default async function run(_ctx: Ctx, input: { greeting: string; run: string }) {
  return { message: input.greeting, length: input.greeting.length };
}
