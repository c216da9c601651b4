import { useCallback, useEffect, useState } from "react";
import { ApiError, fetchModels, type ModelInfo } from "./api.js";
import { useApiKey } from "./apiKey.js";

/**
 * What the header says about the server. `unauthorized`: it wants an API key (none, or a wrong one);
 * `forbidden`: it refused this page's origin or host; `failed`: the model did not load.
 */
export type ServerStatus =
  | "connecting"
  | "ready"
  | "loading"
  | "offline"
  | "unauthorized"
  | "forbidden"
  | "failed";

/**
 * The model to ask: "auto" when the server routes, else the first of /v1/models; polled every 3 s
 * until the server answers, and asked again whenever the API key changes.
 */
export function useModel() {
  const [model, setModel] = useState<ModelInfo | undefined>();
  const [status, setStatus] = useState<ServerStatus>("connecting");
  const [attempt, setAttempt] = useState(0);
  const apiKey = useApiKey();

  // biome-ignore lint/correctness/useExhaustiveDependencies: `attempt` and `apiKey` are triggers to ask again.
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
        const status = statusOf(error);
        setStatus(status);
        // Without a (right) key asking again cannot help, and each refusal may count against a limit:
        // the next attempt comes when the key changes.
        if (status !== "unauthorized") timer = setTimeout(() => setAttempt((n) => n + 1), 3000);
      });
    return () => {
      abort.abort();
      clearTimeout(timer);
    };
  }, [attempt, apiKey]);

  /** Asks again now, e.g. after a request failed as offline. */
  const refresh = useCallback(() => setAttempt((n) => n + 1), []);
  return { model, status, refresh };
}

function statusOf(error: unknown): ServerStatus {
  if (!(error instanceof ApiError)) return "offline";
  switch (error.error.kind) {
    case "loading":
      return "loading";
    case "auth":
      return "unauthorized";
    case "forbidden":
      return "forbidden";
    case "unavailable":
      return error.error.code === "model_load_failed" ? "failed" : "offline";
    default:
      return "offline";
  }
}
