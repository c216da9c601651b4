import { createInterface } from "node:readline/promises";
import { Command, InvalidArgumentError } from "commander";
import OpenAI from "openai";
import type { ChatCompletionMessageParam } from "openai/resources/chat/completions";
import type { SettingName } from "../config/settings.js";
import { DEFAULT_MODEL, ensureModel } from "../models/registry.js";
import { type EdgeServer, startEdgeServer } from "../server.js";
import { intOption } from "./options.js";
import { progressReporter } from "./progress.js";
import { addSettingOptions, commandSettings, HUB, hubOptions } from "./setting-options.js";

interface ChatFlags {
  url?: string;
  model?: string;
  system?: string;
  temperature?: number;
  maxTokens?: number;
  apiKey?: string;
  json?: boolean;
}

const HELP =
  "Commands: /clear (forget the conversation), /system TEXT (set the system prompt), /json (toggle JSON mode), /help, /exit";

function floatOption(min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isFinite(n) || n < min || n > max)
      throw new InvalidArgumentError(`expected a number from ${min} to ${max}.`);
    return n;
  };
}

/**
 * `edgellm chat`: a terminal chat that streams and keeps the conversation. It talks to a running server
 * (`--url`) or starts one in-process; either way through the official `openai` client, as any app would.
 */
export function chatCommand(): Command {
  const command = new Command("chat")
    .description("Chat in the terminal, against a running server (--url) or an in-process one")
    .option(
      "--url <url>",
      "base URL of a running edgellm (or any OpenAI-compatible) server, e.g. http://127.0.0.1:8080",
    )
    .option(
      "-m, --model <model>",
      `in-process: GGUF file or model ref (default ${DEFAULT_MODEL}); with --url: the model name (default: "auto" if served, else the first model)`,
    )
    .option("-s, --system <text>", "system prompt")
    .option("--temperature <t>", "sampling temperature", floatOption(0, 2))
    .option("--max-tokens <n>", "cap on each answer, in tokens", intOption(1))
    .option("--json", "JSON mode: every answer is a JSON object (response_format json_object)")
    .option(
      "--api-key <key>",
      "API key for --url servers that need one (default: EDGELLM_API_KEY's first key, or OPENAI_API_KEY)",
    );
  addSettingOptions(command, ["ctxSize"], { ctxSize: "in-process: context window per slot, in tokens" });
  return command.action(async (flags: ChatFlags, self: Command) => {
    // Download settings only matter in-process: a bad HF_ENDPOINT must not stop `chat --url`.
    const names: SettingName[] = ["ctxSize", "apiKey", "openaiApiKey", ...(flags.url ? [] : HUB)];
    const { values } = commandSettings(self, names);
    const apiKey = flags.apiKey ?? values.apiKey[0] ?? values.openaiApiKey ?? "none";
    let server: EdgeServer | undefined;
    let baseURL = flags.url;
    let model = flags.model;
    if (!baseURL) {
      const ref = flags.model ?? DEFAULT_MODEL;
      process.stderr.write(`Loading ${ref}...\n`);
      server = await startEdgeServer({
        port: 0,
        contextSize: values.ctxSize,
        modelPath: async () => {
          const reporter = progressReporter();
          try {
            return await ensureModel(ref, {
              ...hubOptions(values as Parameters<typeof hubOptions>[0]),
              onProgress: reporter.update,
            });
          } finally {
            reporter.stop();
          }
        },
      });
      try {
        await server.ready;
      } catch (error) {
        await server.close();
        process.stderr.write(`edgellm chat: ${error instanceof Error ? error.message : String(error)}\n`);
        process.exitCode = 1;
        return;
      }
      baseURL = server.url;
      model = "local";
    }
    const client = new OpenAI({
      baseURL: `${baseURL.replace(/\/+$/, "").replace(/\/v1$/, "")}/v1`,
      apiKey,
    });
    try {
      model ??= await pickModel(client);
      await chatLoop(client, model, flags);
    } finally {
      await server?.close();
    }
  });
}

/** "auto" when the server routes between models, else the first model it serves. */
async function pickModel(client: OpenAI): Promise<string> {
  const ids = (await client.models.list()).data.map((m) => m.id);
  if (ids.includes("auto")) return "auto";
  if (ids.length === 0) throw new Error("the server lists no models");
  return ids[0];
}

async function chatLoop(client: OpenAI, model: string, flags: ChatFlags): Promise<void> {
  const rl = createInterface({
    input: process.stdin,
    output: process.stdout,
    terminal: process.stdin.isTTY === true,
  });
  let system = flags.system;
  let json = flags.json === true;
  let history: ChatCompletionMessageParam[] = [];
  let generation: AbortController | undefined;
  // Ctrl+C stops the answer being written; at the prompt it leaves.
  rl.on("SIGINT", () => {
    if (generation) generation.abort();
    else rl.close();
  });
  process.stdout.write(`${HELP}\n`);
  const lines = rl[Symbol.asyncIterator]();
  while (true) {
    if (process.stdin.isTTY) process.stdout.write("> ");
    const next = await lines.next();
    if (next.done) break;
    const line = next.value.trim();
    if (line === "") continue;
    if (line === "/exit" || line === "/quit") break;
    if (line === "/help") {
      process.stdout.write(`${HELP}\n`);
      continue;
    }
    if (line === "/clear") {
      history = [];
      process.stdout.write("(conversation cleared)\n");
      continue;
    }
    if (line === "/json") {
      json = !json;
      process.stdout.write(json ? "(JSON mode on: answers are JSON objects)\n" : "(JSON mode off)\n");
      continue;
    }
    if (line.startsWith("/system")) {
      system = line.slice("/system".length).trim() || undefined;
      history = [];
      process.stdout.write(
        system ? "(system prompt set; conversation cleared)\n" : "(system prompt removed)\n",
      );
      continue;
    }
    history.push({ role: "user", content: line });
    generation = new AbortController();
    let answer = "";
    try {
      const stream = await client.chat.completions.create(
        {
          model,
          messages: system ? [{ role: "system", content: system }, ...history] : history,
          stream: true,
          temperature: flags.temperature,
          max_tokens: flags.maxTokens,
          ...(json ? { response_format: { type: "json_object" as const } } : {}),
        },
        { signal: generation.signal },
      );
      for await (const chunk of stream) {
        const delta = chunk.choices[0]?.delta?.content ?? "";
        answer += delta;
        process.stdout.write(delta);
      }
      process.stdout.write("\n");
      history.push({ role: "assistant", content: answer });
    } catch (error) {
      if (generation.signal.aborted) {
        process.stdout.write("\n(stopped)\n");
        if (answer) history.push({ role: "assistant", content: answer });
      } else {
        history.pop();
        process.stdout.write(`\n[error] ${error instanceof Error ? error.message : String(error)}\n`);
      }
    } finally {
      generation = undefined;
    }
  }
  rl.close();
}
