import { useEffect, useRef, useState } from "react";
import { ApiError } from "../api.js";
import { format, useStrings } from "../i18n.js";
import type { AnswerError } from "../types.js";
import { fileChunks } from "./api.js";
import { apiProblem, ProblemText } from "./errors.js";
import { formatHeadingPath } from "./format.js";
import type { Chunk } from "./types.js";

/** A file's chunks exactly as indexed: number, heading path, tokens, page, text. `focus` scrolls to one. */
export function FileChunks({ storeId, fileId, focus }: { storeId: string; fileId: string; focus?: number }) {
  const t = useStrings();
  const [chunks, setChunks] = useState<Chunk[]>();
  const [error, setError] = useState<AnswerError>();
  const list = useRef<HTMLOListElement>(null);

  useEffect(() => {
    const abort = new AbortController();
    fileChunks(storeId, fileId, abort.signal).then(setChunks, (failure: unknown) => {
      if (!abort.signal.aborted)
        setError(failure instanceof ApiError ? failure.error : { kind: "server", message: String(failure) });
    });
    return () => abort.abort();
  }, [storeId, fileId]);

  useEffect(() => {
    if (chunks && focus !== undefined)
      list.current?.querySelector(`[data-chunk="${focus}"]`)?.scrollIntoView({ block: "start" });
  }, [chunks, focus]);

  return (
    <div className="panel-body kb-body">
      {error && <ProblemText problem={apiProblem(error, t)} />}
      {!chunks && !error && <p className="muted small">{t.kbLoading}</p>}
      {chunks?.length === 0 && <p className="muted small">{t.kbNoChunks}</p>}
      {chunks && chunks.length > 0 && (
        <ol className="kb-chunks" ref={list}>
          {chunks.map((chunk) => (
            <li
              key={chunk.index}
              className={`kb-chunk${chunk.index === focus ? " focused" : ""}`}
              data-chunk={chunk.index}
            >
              <div className="kb-chunk-head small">
                <strong>{format(t.kbChunkN, { n: chunk.index + 1 })}</strong>
                {chunk.headingPath.length > 0 && (
                  <span className="kb-heading">{formatHeadingPath(chunk.headingPath)}</span>
                )}
                <span className="muted">
                  {[
                    chunk.tokens !== undefined ? format(t.kbTokensN, { n: chunk.tokens }) : "",
                    chunk.page !== undefined ? format(t.kbPageN, { n: chunk.page }) : "",
                  ]
                    .filter(Boolean)
                    .join(" · ")}
                </span>
              </div>
              <div className="kb-text">{chunk.text}</div>
            </li>
          ))}
        </ol>
      )}
    </div>
  );
}
