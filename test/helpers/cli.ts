import { spawn } from "node:child_process";
import { CLI } from "./server-process.js";

/** Runs the edgellm CLI with extra environment and `input` on stdin; resolves with its exit code and output. */
export function runCli(args: string[], env: NodeJS.ProcessEnv = {}, input = "") {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env } });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c) => {
      stdout += c;
    });
    child.stderr.on("data", (c) => {
      stderr += c;
    });
    child.on("close", (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input);
  });
}
