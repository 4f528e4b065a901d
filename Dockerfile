# One image for every service; the arguments pick which one runs (`start`, or a standalone service's command in
# compose and k8s). Built on the current Node LTS; the code keeps Node 20 working (package.json engines, CI).
ARG NODE_VERSION=26
FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.base.json ./
COPY shared/package.json shared/tsconfig.json shared/
COPY services/checker/package.json services/checker/tsconfig.json services/checker/
COPY services/controller/package.json services/controller/tsconfig.json services/controller/
COPY services/api/package.json services/api/tsconfig.json services/api/
COPY cli/package.json cli/tsconfig.json cli/
COPY cli/bin cli/bin
COPY shared/src shared/src
COPY services/checker/src services/checker/src
COPY services/controller/src services/controller/src
COPY services/api/src services/api/src
COPY cli/src cli/src
# Dev dependencies build the TypeScript, then leave: the image carries production dependencies only.
RUN npm ci --ignore-scripts && npx tsc -b && npm prune --omit=dev --ignore-scripts

FROM node:${NODE_VERSION}-bookworm-slim
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG SOURCE=""
LABEL org.opencontainers.image.title="portal-failover" \
      org.opencontainers.image.description="Failover orchestration for public-service portals: checks, quorum decisions, verified DNS/LB switchovers" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="${SOURCE}"
WORKDIR /app
ENV NODE_ENV=production \
    FAILOVER_COMMIT=${REVISION}
COPY --from=build /app /app
COPY config config
COPY scripts/healthcheck.js scripts/healthcheck.js
RUN ln -s /app/cli/bin/portal-failover.js /usr/local/bin/portal-failover
USER node
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 CMD ["node", "/app/scripts/healthcheck.js"]
ENTRYPOINT ["portal-failover"]
CMD ["start"]
