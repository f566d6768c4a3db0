import { z } from "zod";
import { jwtVerify, errors } from "jose";

const Order = z.object({
  id: z.string().min(1),
  items: z
    .array(z.object({ sku: z.string().regex(/^[A-Z0-9-]+$/), quantity: z.number().int().positive(), price: z.number().nonnegative() }))
    .min(1),
  email: z.email(),
  note: z.string().max(500).optional(),
});

const Input = z.object({ token: z.string(), order: Order });

// A demo key so the example (and the benchmark) runs as is; a real workflow reads it from
// `ctx.secrets` (.secrets.yaml locally, a Kubernetes Secret when deployed).
const KEY = new TextEncoder().encode("zod-jose-example-secret-32-bytes!!");

export default async function run(_ctx: unknown, input: unknown) {
  const parsed = Input.safeParse(input);
  if (!parsed.success) {
    return { ok: false, error: "invalid order", issues: parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`) };
  }
  const { token, order } = parsed.data;
  try {
    const { payload } = await jwtVerify(token, KEY, { issuer: "https://shop.example", audience: "orders", algorithms: ["HS256"] });
    const total = order.items.reduce((sum, item) => sum + item.quantity * item.price, 0);
    return { ok: true, customer: payload.sub, order: order.id, total: Math.round(total * 100) / 100 };
  } catch (e) {
    if (e instanceof errors.JOSEError) return { ok: false, error: `token refused: ${e.code}` };
    throw e;
  }
}
