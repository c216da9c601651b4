#!/usr/bin/env bash
# Builds llama.cpp's llama-server from the llama.cpp source that node-llama-cpp ships, for this CPU only
# (native flags, no AMX), into edgellm's engine cache, where `serve` and `npm run bench` find it.
# Same as `edgellm engine build --native`; needs git, cmake and a C++ compiler. Prints the binary's path.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f dist/src/cli/index.js ] || npx tsc -p tsconfig.json
exec node dist/src/cli/index.js engine build --native "$@"
