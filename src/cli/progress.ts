import cliProgress from "cli-progress";
import type { DownloadProgress } from "../models/download.js";
import { formatBytes } from "./models.js";

/** Seconds as "1h02m", "3m05s" or "12s"; "?" when unknown. */
export function formatDuration(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds)) return "?";
  const s = Math.round(seconds);
  if (s >= 3600) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
  if (s >= 60) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${s}s`;
}

/** A cli-progress bar on stderr when it is a TTY; elsewhere (CI, logs) one plain line every 5 s. */
export function progressReporter(): { started: boolean; update(p: DownloadProgress): void; stop(): void } {
  const tty = process.stderr.isTTY === true;
  let bar: cliProgress.SingleBar | undefined;
  let lastLine = 0;
  let printedFinal = false;
  const state = {
    started: false,
    update(p: DownloadProgress): void {
      state.started = true;
      const total = p.totalBytes ?? 0;
      const payload = {
        done: formatBytes(p.downloadedBytes),
        size: p.totalBytes === null ? "?" : formatBytes(p.totalBytes),
        speed: `${formatBytes(p.bytesPerSecond)}/s`,
        left: formatDuration(p.etaSeconds),
      };
      if (tty) {
        if (!bar) {
          bar = new cliProgress.SingleBar(
            {
              stream: process.stderr,
              format: "{bar} {percentage}% | {done}/{size} | {speed} | ETA {left}",
              hideCursor: true,
              clearOnComplete: false,
            },
            cliProgress.Presets.shades_classic,
          );
          bar.start(total, p.downloadedBytes, payload);
        }
        bar.setTotal(total);
        bar.update(p.downloadedBytes, payload);
        return;
      }
      const now = Date.now();
      const finished = p.totalBytes !== null && p.downloadedBytes >= p.totalBytes;
      if (finished ? printedFinal : now - lastLine < 5000) return;
      printedFinal ||= finished;
      lastLine = now;
      const percent = total > 0 ? ` (${Math.floor((p.downloadedBytes / total) * 100)}%)` : "";
      process.stderr.write(
        `${payload.done} / ${payload.size}${percent}, ${payload.speed}, ETA ${payload.left}\n`,
      );
    },
    stop(): void {
      bar?.stop();
      bar = undefined;
    },
  };
  return state;
}

/** Progress of a long job measured in percent (a build), drawn like {@link progressReporter}'s downloads. */
export function percentReporter(label: string): {
  update(percent: number): void;
  note(line: string): void;
  stop(): void;
} {
  const tty = process.stderr.isTTY === true;
  let startedAt: number | undefined;
  let bar: cliProgress.SingleBar | undefined;
  let lastPrinted = -1;
  // From the first update on, so work before it (a clone, a configure step) does not skew the estimate.
  const eta = (percent: number) => {
    startedAt ??= Date.now();
    const elapsed = (Date.now() - startedAt) / 1000;
    return percent > 0 ? formatDuration((elapsed * (100 - percent)) / percent) : "?";
  };
  return {
    update(percent: number): void {
      if (tty) {
        if (!bar) {
          bar = new cliProgress.SingleBar(
            {
              stream: process.stderr,
              format: `${label} {bar} {percentage}% | ETA {left}`,
              hideCursor: true,
              clearOnComplete: false,
            },
            cliProgress.Presets.shades_classic,
          );
          bar.start(100, percent, { left: eta(percent) });
        }
        bar.update(percent, { left: eta(percent) });
        return;
      }
      // Off a TTY (CI logs), one line per tenth.
      const tenth = Math.floor(percent / 10);
      if (tenth <= lastPrinted) return;
      lastPrinted = tenth;
      process.stderr.write(`${label} ${percent}%, ETA ${eta(percent)}\n`);
    },
    note(line: string): void {
      if (bar) return;
      process.stderr.write(`${line}\n`);
    },
    stop(): void {
      bar?.stop();
      bar = undefined;
    },
  };
}
