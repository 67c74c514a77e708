// Validate an AsyncAPI document with the AsyncAPI project's own parser (@asyncapi/parser,
// pinned in tools/package.json). Usage: node tools/asyncapi/validate.mjs [docs/asyncapi.yaml]
// Prints every diagnostic; exits 1 on any error or warning, 2 when the file cannot be read.
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { Parser, fromFile } from "@asyncapi/parser";

const SEVERITY = ["error", "warning", "info", "hint"];
const path = resolve(process.argv[2] ?? "docs/asyncapi.yaml");

try {
  await readFile(path);
} catch (error) {
  console.error(`cannot read ${path}: ${error.message}`);
  process.exit(2);
}

const parser = new Parser();
const { document, diagnostics } = await fromFile(parser, path).parse();
let failures = 0;
for (const diagnostic of diagnostics) {
  const severity = SEVERITY[diagnostic.severity] ?? String(diagnostic.severity);
  if (diagnostic.severity <= 1) failures += 1;
  const where = diagnostic.path.length ? diagnostic.path.join(".") : "(document)";
  const line = diagnostic.range ? `:${diagnostic.range.start.line + 1}` : "";
  console.log(`${severity} ${diagnostic.code} at ${where}${line}: ${diagnostic.message}`);
}
if (document === undefined || failures > 0) {
  console.error(`${path}: ${failures} error(s) or warning(s); not a valid AsyncAPI document`);
  process.exit(1);
}
console.log(
  `${path}: valid AsyncAPI ${document.version()} — ${document.channels().length} channels, ` +
    `${document.operations().length} operations, ${document.allMessages().length} messages`,
);
