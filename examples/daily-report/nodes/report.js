export default async function run(ctx, input) {
  const when = new Date().toISOString();
  ctx.log.info(`report for trigger ${input.trigger ?? "(manual)"} at ${when}`);
  return { trigger: input.trigger ?? null, at: when, by: ctx.run.trigger };
}
