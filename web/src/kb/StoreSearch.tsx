import { type FormEvent, useRef } from "react";
import { ApiError } from "../api.js";
import { Icon } from "../components/icons.js";
import { format, useStrings } from "../i18n.js";
import type { AnswerError } from "../types.js";
import { searchStore } from "./api.js";
import { apiProblem, ProblemText } from "./errors.js";
import { formatHeadingPath } from "./format.js";
import type { SearchHit } from "./types.js";

/** A search and its results, kept by the panel so they are still there after a look at a file's chunks. */
export interface SearchState {
  storeId: string;
  query: string;
  /** Undefined before the first search. */
  hits?: SearchHit[];
  searching?: boolean;
  error?: AnswerError;
}

export interface StoreSearchProps {
  storeId: string;
  state: SearchState;
  onState(change: (state: SearchState) => SearchState): void;
  onOpenChunks(fileId: string, filename: string, chunkIndex?: number): void;
}

/** Searches a store as a chat answer would, showing each passage with its score, file and headings. */
export function StoreSearch({ storeId, state, onState, onOpenChunks }: StoreSearchProps) {
  const t = useStrings();
  const seq = useRef(0);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const query = state.query.trim();
    if (!query) return;
    const mine = ++seq.current;
    onState((s) => ({ ...s, searching: true, error: undefined }));
    try {
      const hits = await searchStore(storeId, query, 10);
      if (mine === seq.current) onState((s) => ({ storeId, query: s.query, hits }));
    } catch (failure) {
      const error: AnswerError =
        failure instanceof ApiError ? failure.error : { kind: "server", message: String(failure) };
      if (mine === seq.current) onState((s) => ({ storeId, query: s.query, error }));
    }
  };
  return (
    <div className="panel-body kb-body">
      <form className="kb-search" onSubmit={(e) => void submit(e)}>
        <label className="search grow">
          <Icon name="search" size={16} />
          <input
            type="search"
            value={state.query}
            placeholder={t.kbSearchPlaceholder}
            aria-label={t.kbSearchPlaceholder}
            onChange={(e) => {
              const query = e.target.value;
              onState((s) => ({ ...s, query }));
            }}
          />
        </label>
        <button type="submit" className="primary" disabled={!state.query.trim() || state.searching}>
          {t.kbTabSearch}
        </button>
      </form>
      {state.searching && <p className="muted small">{t.kbSearching}</p>}
      {state.error && <ProblemText problem={apiProblem(state.error, t)} />}
      {state.hits?.length === 0 && <p className="muted small">{t.kbNoResults}</p>}
      {state.hits && state.hits.length > 0 && (
        <ol className="kb-chunks kb-hits">
          {state.hits.map((hit, i) => (
            <li key={`${hit.fileId}-${hit.chunkIndex ?? i}`} className="kb-chunk" data-testid="search-hit">
              <div className="kb-chunk-head small">
                <span className="kb-score">{format(t.kbScore, { s: hit.score.toFixed(2) })}</span>
                <button
                  type="button"
                  className="link kb-hit-file"
                  title={t.kbShowInFile}
                  onClick={() => onOpenChunks(hit.fileId, hit.filename, hit.chunkIndex)}
                >
                  {hit.filename}
                </button>
                {hit.headingPath.length > 0 && (
                  <span className="kb-heading">{formatHeadingPath(hit.headingPath)}</span>
                )}
              </div>
              <div className="kb-text">{hit.text}</div>
            </li>
          ))}
        </ol>
      )}
    </div>
  );
}
