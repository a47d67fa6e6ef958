import { defineConfig } from "prisma/config";

// Multi-file schema. No datasource url here: the runtime connects through @prisma/adapter-pg and
// migrations are plain SQL applied by src/cli/migrate.ts (Prisma's native engine is not used).
export default defineConfig({
  schema: "schema",
});
