import { mergeServingMeta } from "../provider/serving-meta.js";
import type { ServingMeta, StreamPart } from "../provider/types.js";

/** A provider's stream with its leading meta parts read and its first real part in hand. */
export interface Opened {
  meta: ServingMeta;
  first: StreamPart | undefined;
  rest: AsyncIterator<StreamPart>;
}

/** Starts a stream and reads up to its first real part, so failures before any output surface here. */
export async function open(stream: AsyncIterable<StreamPart>): Promise<Opened> {
  const rest = stream[Symbol.asyncIterator]();
  const meta: ServingMeta = {};
  for (;;) {
    const step = await rest.next();
    if (step.done) return { meta, first: undefined, rest };
    if (step.value.type !== "meta") return { meta, first: step.value, rest };
    mergeServingMeta(meta, step.value.meta);
  }
}

/** Parts already read, as an Opened stream again. */
export function replay(meta: ServingMeta, parts: StreamPart[]): Opened {
  return { meta, first: parts[0], rest: replayParts(parts.slice(1)) };
}

async function* replayParts(parts: StreamPart[]): AsyncGenerator<StreamPart> {
  yield* parts;
}
