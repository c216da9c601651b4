import { useEffect, useRef } from "react";
import { Icon } from "../components/icons.js";
import { format, useStrings } from "../i18n.js";
import type { Citation } from "../types.js";
import { formatHeadingPath } from "./format.js";

/** The passages an answer cites, listed under it; each opens the passage. */
export function Sources({
  citations,
  onOpen,
}: {
  citations: readonly Citation[];
  onOpen(index: number): void;
}) {
  const t = useStrings();
  if (citations.length === 0) return null;
  return (
    <div className="sources" data-testid="sources">
      <span className="sources-label small muted">{t.citeSources}</span>
      <ol>
        {citations.map((c) => (
          <li key={c.index}>
            <button type="button" className="source" onClick={() => onOpen(c.index)} title={c.filename}>
              <span className="cite" aria-hidden="true">
                {c.index}
              </span>
              <span className="ellipsis">
                {c.filename}
                {c.headingPath.length > 0 && (
                  <span className="muted"> · {formatHeadingPath(c.headingPath)}</span>
                )}
              </span>
            </button>
          </li>
        ))}
      </ol>
    </div>
  );
}

/**
 * One cited passage: its file, heading path, score and text, in a modal <dialog> (focus moves in, Escape
 * closes). The passage is text from the knowledge base, shown as text, never as HTML.
 */
export function CitationDialog({ citation, onClose }: { citation: Citation; onClose(): void }) {
  const t = useStrings();
  const dialog = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    if (dialog.current && !dialog.current.open) dialog.current.showModal();
  }, []);
  const meta = [
    citation.chunkIndex !== undefined ? format(t.citeChunk, { n: citation.chunkIndex + 1 }) : "",
    citation.score !== undefined ? format(t.citeScore, { s: citation.score.toFixed(2) }) : "",
  ].filter(Boolean);
  return (
    // biome-ignore lint/a11y/useKeyWithClickEvents: the backdrop click is a mouse shortcut; Escape and the close button are the keyboard's.
    <dialog
      ref={dialog}
      className="cite-dialog"
      aria-labelledby="cite-title"
      onClose={onClose}
      onClick={(e) => {
        // A click on the backdrop (the dialog element itself, outside its content) closes it.
        if (e.target === e.currentTarget) dialog.current?.close();
      }}
      data-testid="citation"
    >
      <div className="cite-body">
        <header className="cite-head">
          <span className="cite" aria-hidden="true">
            {citation.index}
          </span>
          <div className="grow">
            <h2 id="cite-title" className="cite-file">
              {citation.filename}
            </h2>
            {citation.headingPath.length > 0 && (
              <p className="kb-heading small" data-testid="citation-heading">
                {formatHeadingPath(citation.headingPath)}
              </p>
            )}
            {meta.length > 0 && <p className="muted small">{meta.join(" · ")}</p>}
          </div>
          <button
            type="button"
            className="icon-button"
            aria-label={t.close}
            title={t.close}
            onClick={() => dialog.current?.close()}
          >
            <Icon name="close" />
          </button>
        </header>
        <div className="kb-text cite-text">{citation.text}</div>
      </div>
    </dialog>
  );
}
