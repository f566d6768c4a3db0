export default async function run(ctx, input) {
  const text = String(input.text ?? "");
  return text.split(/\s+/).filter(Boolean);
}
