import { useCallback, useEffect, useState } from "react";
import { ApiError, fetchModels, type ModelInfo } from "./api.js";

export type ServerStatus = "connecting" | "ready" | "loading" | "offline";

/** The model to ask: "auto" when the server routes, else the first of /v1/models; polled until the server answers. */
export function useModel() {
  const [model, setModel] = useState<ModelInfo | undefined>();
  const [status, setStatus] = useState<ServerStatus>("connecting");
  const [attempt, setAttempt] = useState(0);

  // biome-ignore lint/correctness/useExhaustiveDependencies: `attempt` is the trigger to ask again.
  useEffect(() => {
    const abort = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    fetchModels(abort.signal)
      .then((models) => {
        // With an upstream configured, "auto" lets the server's policy pick the route for each message.
        setModel(models.find((m) => m.id === "auto") ?? models[0]);
        setStatus("ready");
      })
      .catch((error: unknown) => {
        if (abort.signal.aborted) return;
        setStatus(error instanceof ApiError && error.error.kind === "loading" ? "loading" : "offline");
        timer = setTimeout(() => setAttempt((n) => n + 1), 3000);
      });
    return () => {
      abort.abort();
      clearTimeout(timer);
    };
  }, [attempt]);

  /** Asks again now, e.g. after a request failed as offline. */
  const refresh = useCallback(() => setAttempt((n) => n + 1), []);
  return { model, status, refresh };
}
