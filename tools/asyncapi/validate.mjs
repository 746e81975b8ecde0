// Validate AsyncAPI documents with @asyncapi/parser; exit 1 on any error-level diagnostic.
import { readFileSync } from "node:fs";
import { Parser } from "@asyncapi/parser";

const parser = new Parser();
let failed = false;
for (const file of process.argv.slice(2)) {
  const { document, diagnostics } = await parser.parse(readFileSync(file, "utf8"));
  const errors = diagnostics.filter((d) => d.severity === 0);
  if (!document || errors.length) {
    failed = true;
    console.log(`${file}: INVALID`);
    for (const e of errors) console.log(`  ${e.code}: ${e.message} at ${JSON.stringify(e.path)}`);
  } else {
    console.log(`${file}: valid AsyncAPI ${document.version()} (${document.channels().length} channels, ${diagnostics.length} warnings)`);
  }
}
process.exit(failed ? 1 : 0);
