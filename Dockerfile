# One image for every service: `docker run cheershare:local services/api/src/main.ts`.
# Node 24 runs the TypeScript sources directly (erasable syntax only), so there is no build step.
FROM node:24-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
COPY packages/shared/package.json packages/shared/
COPY services/api/package.json services/api/
COPY services/mailer-worker/package.json services/mailer-worker/
COPY services/scheduler/package.json services/scheduler/
# Production dependencies only (no test tools, no embedded PostgreSQL, no node package: the image has Node).
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

FROM node:24-bookworm-slim AS runtime
ENV NODE_ENV=production
# The API listens on loopback unless told otherwise, which a container's published port cannot
# reach. NODE_ENV=production above refuses the development secrets, whatever the address.
ENV HOST=0.0.0.0
WORKDIR /app
# Manifests and installed modules (the workspaces' own node_modules too, if npm made any).
COPY --from=deps /app ./
COPY packages/shared/src packages/shared/src
COPY services/api/src services/api/src
COPY services/mailer-worker/src services/mailer-worker/src
COPY services/scheduler/src services/scheduler/src
# Operators' task runner: docker compose run --rm api scripts/task.ts cleanup
COPY scripts/task.ts scripts/task.ts
# The uploads volume starts out owned by the unprivileged user that writes it.
RUN mkdir -p /data/uploads && chown node:node /data/uploads
USER node
# node itself is the process (not npm), so signals reach it; compose adds init as PID 1.
ENTRYPOINT ["node"]
CMD ["services/api/src/main.ts"]
