export default async function run(ctx, words) {
  return words.reduce((n, w) => n + w.length, 0);
}
