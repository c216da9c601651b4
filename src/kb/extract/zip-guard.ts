// A ZIP archive is checked before a parser opens it, as a few KB can declare (or hide) gigabytes: the sizes
// its central directory declares must add up to at most the limit, the overall compression ratio must look
// like documents' (deflate reaches about 1000:1 on repeated bytes, XML about 10-20:1), and the parts that
// will be parsed are inflated here, counting bytes, since a hostile archive can declare less than it holds.
import yauzl from "yauzl";
import { ExtractError } from "./types.js";

export interface ZipLimits {
  /** Most bytes all entries may expand to. */
  maxExpandedBytes: number;
  /** Most entries; default 10,000. */
  maxEntries?: number;
  /** Entries to inflate and check (the ones a parser will read); all of them by default. */
  inflate?: (name: string) => boolean;
}

export interface ZipContents {
  /** Every entry's name. */
  names: Set<string>;
  /** The inflated entries, by name. */
  files: Map<string, Buffer>;
}

/** Above this ratio of declared to compressed bytes, an archive that expands past 10 MiB is refused. */
const MAX_RATIO = 100;

export async function readZipGuarded(bytes: Uint8Array, limits: ZipLimits): Promise<ZipContents> {
  const { maxExpandedBytes, maxEntries = 10_000, inflate = () => true } = limits;
  let zip: yauzl.ZipFile;
  try {
    zip = await yauzl.fromBufferPromise(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), {
      lazyEntries: true,
      autoClose: false,
      validateEntrySizes: true,
      decodeStrings: true,
      strictFileNames: false,
    } as yauzl.Options);
  } catch (error) {
    throw new ExtractError(
      "corrupt_file",
      `The file is not a valid ZIP archive (${(error as Error).message}).`,
    );
  }
  try {
    const entries: yauzl.Entry[] = [];
    let declared = 0;
    let compressed = 0;
    try {
      for await (const entry of zip.eachEntry()) {
        entries.push(entry);
        declared += entry.uncompressedSize;
        compressed += entry.compressedSize;
        if (entries.length > maxEntries) throw tooLarge(`it holds more than ${maxEntries} files`);
        if (declared > maxExpandedBytes) throw tooLarge(`it expands to more than ${mib(maxExpandedBytes)}`);
      }
    } catch (error) {
      if (error instanceof ExtractError) throw error;
      throw new ExtractError("corrupt_file", `The ZIP archive is damaged (${(error as Error).message}).`);
    }
    if (declared > 10 * 1024 * 1024 && declared > MAX_RATIO * Math.max(compressed, 1)) {
      throw tooLarge(`it expands ${Math.round(declared / Math.max(compressed, 1))} times, as zip bombs do`);
    }
    const files = new Map<string, Buffer>();
    let inflated = 0;
    for (const entry of entries) {
      if (entry.fileName.endsWith("/") || !inflate(entry.fileName)) continue;
      const chunks: Buffer[] = [];
      try {
        const stream = await zip.openReadStreamPromise(entry);
        for await (const chunk of stream as AsyncIterable<Buffer>) {
          inflated += chunk.length;
          if (inflated > maxExpandedBytes) {
            stream.destroy();
            throw tooLarge(`it expands to more than ${mib(maxExpandedBytes)}`);
          }
          chunks.push(chunk);
        }
      } catch (error) {
        if (error instanceof ExtractError) throw error;
        const message = (error as Error).message;
        // yauzl's check of the declared size: the entry inflates to more than the archive says.
        if (/too many bytes/.test(message)) throw tooLarge("its entries expand to more than they declare");
        throw new ExtractError("corrupt_file", `The ZIP archive is damaged: ${entry.fileName} (${message}).`);
      }
      files.set(entry.fileName, Buffer.concat(chunks));
    }
    return { names: new Set(entries.map((e) => e.fileName)), files };
  } finally {
    zip.close();
  }
}

function tooLarge(why: string): ExtractError {
  return new ExtractError("too_large", `The archive was refused: ${why}.`);
}

function mib(bytes: number): string {
  return `${Math.round((bytes / (1024 * 1024)) * 10) / 10} MiB`;
}
