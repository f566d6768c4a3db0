// Several dependencies: the input is an object keyed by dependency id.
export default async function run(ctx, { words, letters, longest }) {
  return { words, letters, longest, average: words ? letters / words : 0 };
}
