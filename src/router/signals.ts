/**
 * A signal that aborts when the client's (or any long-lived signal) or the attempt's does, and a
 * `dispose` that unhooks it from the client's. Not AbortSignal.any: the SDK adds an abort listener it never removes, and Node keeps a
 * composite signal with listeners alive as long as its sources, so each attempt leaked two signals
 * and the SDK's request state (measured with v8.queryObjects, test/router/upstream.test.ts).
 */
export function linked(
  client: AbortSignal,
  attempt: AbortSignal,
): { signal: AbortSignal; dispose: () => void } {
  const controller = new AbortController();
  const fromClient = () => controller.abort(client.reason);
  if (client.aborted) fromClient();
  else client.addEventListener("abort", fromClient, { once: true });
  attempt.addEventListener("abort", () => controller.abort(attempt.reason), { once: true });
  return { signal: controller.signal, dispose: () => client.removeEventListener("abort", fromClient) };
}

/** Waits `ms`, or rejects with the signal's reason as soon as it aborts. */
export async function sleep(ms: number, signal: AbortSignal): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
