export default async function run(ctx, words) {
  return words.reduce((a, b) => (b.length > a.length ? b : a), "");
}
