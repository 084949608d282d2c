// Regenerates the configuration reference in docs/configuration.md from the schema's descriptions
// (components/config/reference.ts); test/unit/config-reference.test.ts fails while the two differ.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { renderConfigReference, withReference } from "../components/config/reference";

const page = join(__dirname, "..", "docs", "configuration.md");
const before = readFileSync(page, "utf8");
const after = withReference(before, renderConfigReference());
if (after !== before) writeFileSync(page, after);
console.log(after === before ? "docs/configuration.md: up to date" : "docs/configuration.md: reference regenerated");
