// Writes schema.sql from the event catalog: `bun run schema`.
import { renderSchema } from "../src/schema.ts";

await Bun.write(new URL("../schema.sql", import.meta.url), renderSchema());
