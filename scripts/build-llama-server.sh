#!/usr/bin/env bash
# Builds llama.cpp's llama-server from the llama.cpp source that node-llama-cpp ships (a git bundle, so no
# download), for the peer comparison in `npm run bench`. Needs cmake and a C++ compiler; about 10 minutes on
# 2 cores. Prints the binary's path: ${EDGELLM_HOME:-~/.edgellm}/llama-server/build/bin/llama-server
set -euo pipefail
cd "$(dirname "$0")/.."
dest="${EDGELLM_HOME:-$HOME/.edgellm}/llama-server"
bundle=node_modules/node-llama-cpp/llama/gitRelease.bundle
[ -d "$dest/.git" ] || git clone -q "$bundle" "$dest"
# Native flags, but no AMX: on a VM whose CPU advertises AMX (a Xeon here), ggml's AMX matmul segfaulted in
# llama-server's warm-up (ggml_backend_amx_mul_mat, 2026-11-23), likely because the tiles are not usable there.
no_amx="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
cmake -S "$dest" -B "$dest/build" -DCMAKE_BUILD_TYPE=Release -DLLAMA_CURL=OFF \
  -DCMAKE_C_FLAGS="$no_amx" -DCMAKE_CXX_FLAGS="$no_amx" \
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=ON >/dev/null
cmake --build "$dest/build" --target llama-server -j "$(nproc)" >/dev/null
echo "$dest/build/bin/llama-server"
