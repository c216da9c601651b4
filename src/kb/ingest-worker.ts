import { parentPort, workerData } from "node:worker_threads";
import { getLlama, LlamaLogLevel } from "node-llama-cpp";
import { analyze, indexedTerms } from "./analyze.js";
import { chunkSections } from "./chunk.js";
import { extractDocument } from "./extract/extract.js";
import { ExtractError } from "./extract/types.js";
import type { IngestAnswer, IngestJob } from "./ingest-types.js";

/**
 * Ingestion's heavy steps, off the main thread: extract the document (a parser library per format), split it
 * along its headings into chunks sized in the model's own tokens, and analyze each chunk into the terms the
 * lexical index holds. The main thread only writes the result. The model's vocabulary alone is loaded.
 */

const { modelPath } = workerData as { modelPath: string };
const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
const model = await llama.loadModel({ modelPath, vocabOnly: true });
const countTokens = (text: string) => model.tokenize(text, false).length;

async function ingest(job: IngestJob): Promise<IngestAnswer> {
  try {
    const doc = await extractDocument(job.data, job.filename, { maxExpandedBytes: job.maxExpandedBytes });
    const drafts = chunkSections(doc.sections, { ...job.chunking, countTokens });
    if (drafts.length === 0)
      return { id: job.id, error: { code: "empty_file", message: "The file has no text to index." } };
    const stem = job.filename.replace(/\.[^.]+$/, "");
    const title = analyze(doc.title && doc.title !== stem ? `${stem} ${doc.title}` : stem);
    return {
      id: job.id,
      chunks: drafts.map((d) => {
        const terms = { title, heading: analyze(d.headingPath.join(" ")), body: analyze(d.text) };
        return {
          text: d.text,
          headingPath: d.headingPath,
          tokens: d.tokens,
          ...(d.page !== undefined && { page: d.page }),
          terms,
          indexed: indexedTerms(terms),
        };
      }),
      title: doc.title,
    };
  } catch (error) {
    if (error instanceof ExtractError)
      return { id: job.id, error: { code: error.code, message: error.message } };
    return {
      id: job.id,
      error: {
        code: "parse_failed",
        message: `The file could not be read: ${String((error as Error)?.message ?? error).slice(0, 300)}`,
      },
    };
  }
}

parentPort?.on("message", (job: IngestJob) => {
  void ingest(job).then((answer) => parentPort?.postMessage(answer));
});
parentPort?.postMessage("ready");
