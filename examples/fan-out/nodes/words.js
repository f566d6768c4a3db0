export default async function run(ctx, words) {
  return words.length;
}
