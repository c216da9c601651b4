#!/usr/bin/env node
import { Command } from "commander";
import { benchCommand } from "./bench.js";
import { chatCommand } from "./chat.js";
import { engineCommand } from "./engine.js";
import { kbCommand } from "./kb.js";
import { modelsCommand } from "./models.js";
import { pullCommand } from "./pull.js";
import { serveCommand } from "./serve.js";
import { synthCommand } from "./synth.js";

const program = new Command("edgellm")
  .description("A local-first, OpenAI-compatible LLM chat server for ordinary CPUs")
  .version("0.1.0")
  .addCommand(serveCommand(), { isDefault: true })
  .addCommand(chatCommand())
  .addCommand(pullCommand())
  .addCommand(modelsCommand())
  .addCommand(synthCommand())
  .addCommand(benchCommand())
  .addCommand(engineCommand())
  .addCommand(kbCommand());

// Usage errors (an unknown flag, a missing or bad argument) exit 2, as a bad setting does; help and --version 0.
for (const command of [program, ...program.commands])
  command.exitOverride((error) => process.exit(error.exitCode === 0 ? 0 : 2));

await program.parseAsync(process.argv);
