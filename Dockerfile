# One image for every service; the command picks which one runs.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.base.json ./
COPY shared/package.json shared/tsconfig.json shared/
COPY services/checker/package.json services/checker/tsconfig.json services/checker/
COPY services/controller/package.json services/controller/tsconfig.json services/controller/
COPY services/api/package.json services/api/tsconfig.json services/api/
COPY cli/package.json cli/tsconfig.json cli/
COPY shared/src shared/src
COPY services/checker/src services/checker/src
COPY services/controller/src services/controller/src
COPY services/api/src services/api/src
COPY cli/src cli/src
RUN npm ci && npx tsc -b && npm prune --omit=dev

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /app /app
COPY config config
USER node
CMD ["node", "cli/dist/main.js", "start"]
