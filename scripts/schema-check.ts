// `npm run schema:check`: composes the supergraph from schema/subgraphs and fails when the result would
// break an operation clients rely on: the platform's trusted documents (always) and the operations
// organizations registered for their partners (from DATABASE_URL, or a snapshot file).
//
//   npm run schema:check                                  trusted documents; registered ones too when DATABASE_URL is set
//   npm run schema:check -- --registered <file.json>      registered operations from a snapshot instead of the database
//   npm run schema:check -- --export-registered <file>    write DATABASE_URL's registered operations to a snapshot
import { readFileSync, writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import {
  DEFAULT_TRUSTED_DOCUMENTS_PATH,
  loadTrustedDocuments,
} from "../gateway/src/persisted-operations/trusted-documents.ts";
import {
  type ClientOperation,
  checkSchema,
  describeBreakage,
  registeredOperations,
  trustedOperations,
} from "./operations-check.ts";

const { values } = parseArgs({
  options: { registered: { type: "string" }, "export-registered": { type: "string" } },
});
const databaseUrl = process.env.DATABASE_URL;

if (values["export-registered"]) {
  if (!databaseUrl) fail("--export-registered reads DATABASE_URL: set it");
  const operations = await registeredOperations(databaseUrl!);
  writeFileSync(values["export-registered"], `${JSON.stringify(operations, null, 2)}\n`);
  console.log(`wrote ${operations.length} registered operations to ${values["export-registered"]}`);
  process.exit(0);
}

const trusted = trustedOperations(await loadTrustedDocuments(DEFAULT_TRUSTED_DOCUMENTS_PATH));
let registered: ClientOperation[] = [];
let registeredFrom = "none checked: set DATABASE_URL or pass --registered <snapshot>";
if (values.registered) {
  registered = (JSON.parse(readFileSync(values.registered, "utf8")) as ClientOperation[]).map((o) => ({
    ...o,
    origin: "registered" as const,
  }));
  registeredFrom = values.registered;
} else if (databaseUrl) {
  registered = await registeredOperations(databaseUrl);
  registeredFrom = "the database at DATABASE_URL";
}

const result = checkSchema([...trusted, ...registered]);
if (result.compositionErrors) {
  for (const error of result.compositionErrors) console.error(`composition error: ${error}`);
  fail("the subgraphs do not compose");
}
for (const breakage of result.breakages) console.error(`✗ ${describeBreakage(breakage)}`);
if (result.breakages.length > 0)
  fail(
    `${result.breakages.length} operation(s) would break: change the schema compatibly, or the operations first`,
  );
console.log(
  `schema:check: the composed supergraph runs all ${trusted.length} trusted and ${registered.length} registered operations (registered: ${registeredFrom})`,
);

function fail(message: string): never {
  console.error(`schema:check failed: ${message}`);
  process.exit(1);
}
