/** `edgellm pull [ref]`: download a model into the cache ahead of time. Prints the path on stdout. */
import { Command } from "commander";
import { isAbortError } from "../models/download.js";
import { DEFAULT_MODEL, ensureModel, isLocalModelPath, modelCachePath } from "../models/registry.js";
import { progressReporter } from "./progress.js";
import { addSettingOptions, commandSettings, HUB, hubOptions } from "./setting-options.js";

export function pullCommand(): Command {
  const command = new Command("pull")
    .description("Download a model into the local cache (resumes an interrupted download)")
    .argument("[ref]", "name[:quant], hf:owner/repo/file.gguf or owner/repo/file.gguf", DEFAULT_MODEL);
  return addSettingOptions(command, ["source"]).action(async (ref: string, _opts: unknown, self: Command) => {
    const hub = hubOptions(commandSettings(self, HUB).values);
    const controller = new AbortController();
    const onSigint = () => controller.abort();
    process.once("SIGINT", onSigint);
    const reporter = progressReporter();
    try {
      if (isLocalModelPath(ref)) throw new Error(`"${ref}" is a local file; pass it to --model instead.`);
      const cached = modelCachePath(ref, hub);
      const path = await ensureModel(ref, {
        ...hub,
        onProgress: reporter.update,
        signal: controller.signal,
      });
      reporter.stop();
      if (!reporter.started && path === cached) process.stderr.write("Already downloaded.\n");
      process.stdout.write(`${path}\n`);
    } catch (err) {
      reporter.stop();
      if (isAbortError(err)) {
        process.stderr.write("Interrupted; the partial download is kept and the next pull resumes it.\n");
        process.exitCode = 130;
      } else {
        process.stderr.write(`edgellm pull: ${err instanceof Error ? err.message : String(err)}\n`);
        process.exitCode = 1;
      }
    } finally {
      process.off("SIGINT", onSigint);
    }
  });
}
