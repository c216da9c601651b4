# edgellm's container image. One command runs it:
#   docker build -t edgellm . && docker run -d -p 8080:8080 -v edgellm:/data --name edgellm edgellm
# See docs/deploy.md (configuration, compose, Kubernetes, and what was tested).
#
# BASE_IMAGE: every stage starts from it. Where registry images cannot be pulled, make a local stand-in with
#   scripts/docker-base-image.sh (Debian bookworm + Node 24 from the npm registry) and pass its name.
# ENGINE_BUILD: `portable` (default) compiles ggml's CPU backend for every CPU generation and picks the best
#   at startup, so the image runs on any x86-64 or arm64 host; `native` compiles for the build machine only
#   (quicker to build; for a test image that runs where it is built).
ARG BASE_IMAGE=node:24-bookworm-slim

# --- dependencies: all of them, for building; only changes when package.json or the lock file does ---
FROM ${BASE_IMAGE} AS deps
RUN apt-get update \
  && apt-get install -y --no-install-recommends python3 make g++ git cmake \
  && rm -rf /var/lib/apt/lists/*
# node-llama-cpp's postinstall would try to download or build its own llama.cpp, which its prebuilt
# packages make needless.
ENV NODE_LLAMA_CPP_SKIP_DOWNLOAD=true \
  npm_config_update_notifier=false \
  npm_config_fund=false \
  npm_config_audit=false
WORKDIR /src
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` would build sources not copied yet. better-sqlite3 is the one addon to
# compile; node-gyp takes the headers from the Node distribution (nodedir) instead of downloading them.
RUN npm ci --ignore-scripts \
  && npm_config_nodedir=/usr/local npm rebuild better-sqlite3 \
  && node -e "new (require('better-sqlite3'))(':memory:').close()"

# --- the server (dist/src) ---
FROM deps AS server
COPY tsconfig.json ./
COPY src ./src
RUN npx tsc -p tsconfig.json

# --- llama-server, compiled from the llama.cpp source node-llama-cpp bundles ---
# Only the engine builder's own sources (tsconfig.engine.json: src/engine/binary and what it imports), so a
# change elsewhere in src/ or web/ keeps this layer and its 6-20 minute compile.
FROM deps AS engine
ARG ENGINE_BUILD=portable
COPY tsconfig.json tsconfig.engine.json ./
COPY src/engine/binary ./src/engine/binary
COPY src/config ./src/config
COPY src/models ./src/models
COPY src/provider ./src/provider
COPY src/pid.ts ./src/pid.ts
RUN case "$ENGINE_BUILD" in portable|native) ;; \
      *) echo "ENGINE_BUILD must be portable or native, not $ENGINE_BUILD" >&2; exit 1 ;; esac \
  && npx tsc -p tsconfig.engine.json \
  && node --input-type=module -e " \
      const { buildLlamaServer } = await import('/src/dist/src/engine/binary/build.js'); \
      let last = ''; \
      const binary = await buildLlamaServer({ \
        home: '/tmp/engine-home', native: process.env.ENGINE_BUILD === 'native', log: (l) => console.error(l), \
        onProgress: ({ phase, percent }) => { \
          const step = phase + ' ' + Math.floor((percent ?? 0) / 10) * 10 + '%'; \
          if (step !== last) console.error((last = step)); \
        }, \
      }); \
      console.log(binary.path);" >/tmp/engine-path \
  && mv "$(dirname "$(cat /tmp/engine-path)")" /opt/engine \
  && rm -rf /tmp/engine-home /src/dist

# --- the web page (dist/web), then only production packages ---
FROM server AS build
COPY web ./web
# What the runtime never loads goes: node-llama-cpp's prebuilt packages for other platforms and for CUDA and
# Vulkan (~650 MB; the CPU one for this platform stays, for the in-process engine and tokenizing), the
# TypeScript compiler npm keeps as node-llama-cpp's optional peer (~30 MB), and better-sqlite3's sources
# and object files beside its addon (~25 MB).
RUN npm run build:web \
  && npm prune --omit=dev --ignore-scripts \
  && keep="linux-$(node -p process.arch)" \
  && for pkg in node_modules/@node-llama-cpp/*; do [ "${pkg##*/}" = "$keep" ] || rm -rf "$pkg"; done \
  && rm -rf node_modules/typescript node_modules/@typescript \
  && cd node_modules/better-sqlite3 \
  && mv build/Release/better_sqlite3.node /tmp/ && rm -rf build deps src \
  && mkdir -p build/Release && mv /tmp/better_sqlite3.node build/Release/ \
  && cd /src && node -e "new (require('better-sqlite3'))(':memory:').close()"

# --- runtime: Node, production packages, the compiled server and page, the engine; nothing else ---
FROM ${BASE_IMAGE} AS runtime
# llama-server links libgomp (OpenMP) from g++, which the slim base does not have.
RUN apt-get update \
  && apt-get install -y --no-install-recommends libgomp1 \
  && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin \
  && groupadd --system --gid 10001 edgellm \
  && useradd --system --uid 10001 --gid edgellm --home-dir /data --no-create-home --shell /usr/sbin/nologin edgellm \
  && mkdir -p /data \
  && chown edgellm:edgellm /data
# The engine lives outside /data: a volume mounted there would hide anything the image put in it.
ENV NODE_ENV=production \
  EDGELLM_HOME=/data \
  EDGELLM_HOST=0.0.0.0 \
  EDGELLM_PORT=8080 \
  EDGELLM_LLAMA_SERVER=/opt/edgellm/engine
WORKDIR /opt/edgellm/app
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist/src ./dist/src
COPY --from=build /src/dist/web ./dist/web
COPY --from=engine /opt/engine /opt/edgellm/engine
USER 10001:10001
VOLUME ["/data"]
EXPOSE 8080
# /health is public (no key needed): 200 once the model is loaded, 503 while loading. The first start may
# download the model (~400 MB), hence the long start period. The slim image has no curl: Node's fetch.
HEALTHCHECK --interval=15s --timeout=5s --start-period=10m --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8080/health').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["node", "/opt/edgellm/app/dist/src/cli/index.js"]
CMD ["serve"]
