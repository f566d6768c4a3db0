import type { Ctx } from "../pipedreamer";
import { titleCase } from "./text.ts";

export default async function run(ctx: Ctx, input: { name: string }) {
  return { greeting: `Hello, ${titleCase(input.name)}!`, run: ctx.run.id };
}
