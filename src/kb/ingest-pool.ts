import { Worker } from "node:worker_threads";
import type { IngestAnswer, IngestJob } from "./ingest-types.js";

export interface IngestWorkerOptions {
  /** The chat model's GGUF: its vocabulary counts chunk sizes in the model's tokens. */
  modelPath: () => Promise<string>;
  /** Longest one document may take, in ms, before the worker is restarted and the file failed. Default 120 000. */
  jobTimeoutMs?: number;
  /** Heap of the worker, in MiB: a document that needs more fails alone. Default 1024. */
  heapMiB?: number;
}

type Pending = { resolve(answer: IngestAnswer): void; timer: NodeJS.Timeout };

/**
 * One worker thread doing ingestion's parsing, chunking and tokenizing, one document at a time (one core is
 * left to the model). A document that crashes the worker, fills its heap or runs past the timeout fails with
 * a message, and the next one gets a fresh worker.
 */
export class IngestWorker {
  private worker: Worker | undefined;
  private ready: Promise<void> | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private closed = false;

  constructor(private readonly options: IngestWorkerOptions) {}

  async run(job: Omit<IngestJob, "id">): Promise<IngestAnswer> {
    if (this.closed) throw new Error("the ingest worker was closed");
    const worker = await this.start();
    const id = this.nextId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.restart(
          `Reading the file took longer than ${Math.round((this.options.jobTimeoutMs ?? 120_000) / 1000)} s.`,
        );
      }, this.options.jobTimeoutMs ?? 120_000);
      this.pending.set(id, { resolve, timer });
      // The bytes are copied, not transferred: the caller's buffer (from the database) stays valid.
      worker.postMessage({ ...job, id } satisfies IngestJob);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    const worker = this.worker;
    this.fail("The server is shutting down.");
    if (worker) {
      await this.ready?.catch(() => {});
      await worker.terminate();
    }
  }

  private async start(): Promise<Worker> {
    if (this.worker && this.ready) {
      await this.ready;
      return this.worker;
    }
    const modelPath = await this.options.modelPath();
    const worker = new Worker(new URL("./ingest-worker.js", import.meta.url), {
      workerData: { modelPath },
      resourceLimits: { maxOldGenerationSizeMb: this.options.heapMiB ?? 1024 },
    });
    worker.unref();
    this.worker = worker;
    this.ready = new Promise((resolve, reject) => {
      worker.once("message", () => resolve());
      worker.once("error", reject);
    });
    worker.on("message", (answer: IngestAnswer | "ready") => {
      if (answer === "ready") return;
      const job = this.pending.get(answer.id);
      if (!job) return;
      this.pending.delete(answer.id);
      clearTimeout(job.timer);
      job.resolve(answer);
    });
    worker.on("error", (error) => {
      if (this.worker === worker) this.restart(`The file could not be read (${error.message}).`);
    });
    worker.on("exit", () => {
      if (this.worker === worker) this.restart("The file could not be read (the parser stopped).");
    });
    await this.ready;
    return worker;
  }

  /** Fails every job in flight with `message` and drops the worker; the next job starts a new one. */
  private restart(message: string): void {
    const worker = this.worker;
    this.worker = undefined;
    this.ready = undefined;
    this.fail(message);
    void worker?.terminate();
  }

  private fail(message: string): void {
    for (const [id, job] of this.pending) {
      clearTimeout(job.timer);
      job.resolve({ id, error: { code: "parse_failed", message } });
    }
    this.pending.clear();
  }
}
