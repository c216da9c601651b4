import { format, type Strings } from "../i18n.js";
import type { AnswerError } from "../types.js";
import { formatBytes } from "./format.js";
import type { StoreFile } from "./types.js";
import type { UploadProblem } from "./uploads.js";

/** What went wrong, in the page's language (`title`), with the server's own words under it (`detail`). */
export interface Problem {
  title: string;
  detail?: string;
}

/** A failed knowledge base request: by the server's error code, then its status (as ../api.ts classifies). */
export function apiProblem(error: AnswerError, t: Strings): Problem {
  const detail = error.message || undefined;
  const titled = (title: string): Problem => ({ title, ...(detail && detail !== title ? { detail } : {}) });
  switch (error.kind) {
    case "offline":
      return { title: t.errOffline };
    case "auth":
      return titled(error.keySent ? t.errAuthRejected : t.errAuthRequired);
    case "busy":
      return titled(t.errBusy);
    case "rateLimited":
      return titled(t.errRateLimited);
    case "loading":
      return titled(t.errLoading);
    case "unavailable":
      return titled(t.errUnavailable);
  }
  switch (error.code) {
    case "file_too_large":
      return titled(t.kbErrTooLargeServer);
    case "storage_limit_exceeded":
      return titled(t.kbErrStorageFull);
    case "unsupported_file":
      return titled(t.kbErrUnsupported);
    case "vector_store_not_found":
    case "file_not_found":
      return titled(t.kbErrNotFound);
    case "embedding_model_mismatch":
      return titled(t.kbErrEmbedding);
    case "not_found":
      return titled(t.kbErrMissing);
  }
  if (error.status === 413) return titled(t.kbErrTooLargeServer);
  return detail ? { title: detail } : { title: t.errServer };
}

/** Why the server could not index a file (`last_error`; OpenAI's codes are server_error, unsupported_file, invalid_file). */
export function ingestProblem(error: NonNullable<StoreFile["error"]>, t: Strings): Problem {
  const title =
    error.code === "unsupported_file"
      ? t.kbErrUnsupported
      : error.code === "invalid_file"
        ? t.kbErrUnreadable
        : t.kbErrIngest;
  return error.message && error.message !== title ? { title, detail: error.message } : { title };
}

export function uploadProblem(problem: UploadProblem, t: Strings): Problem {
  return problem.kind === "tooLarge"
    ? { title: format(t.kbErrTooLarge, { limit: formatBytes(problem.limit) }) }
    : apiProblem(problem.error, t);
}

export function ProblemText({ problem }: { problem: Problem }) {
  return (
    <span className="kb-problem" role="alert">
      <strong>{problem.title}</strong>
      {problem.detail && <span className="kb-problem-detail">{problem.detail}</span>}
    </span>
  );
}
