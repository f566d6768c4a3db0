import type { Ctx } from "../pipedreamer";

export default async function run(_ctx: Ctx, input: { greeting: string }) {
  return { message: input.greeting.toUpperCase() };
}
