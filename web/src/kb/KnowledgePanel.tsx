import { useEffect, useRef, useState } from "react";
import { Icon } from "../components/icons.js";
import { useStrings } from "../i18n.js";
import type { AttachedStore } from "../types.js";
import { FileChunks } from "./FileChunks.js";
import { StoreList } from "./StoreList.js";
import { type SearchState, StoreSearch } from "./StoreSearch.js";
import { StoreView } from "./StoreView.js";
import type { Store } from "./types.js";
import type { StoresState } from "./useStores.js";
import "./kb.css";

export interface KnowledgePanelProps {
  stores: StoresState;
  /** The knowledge bases the current chat uses. */
  attached: readonly AttachedStore[];
  onToggleAttach(store: Store): void;
  /** A store was deleted: chats that used it stop using it. */
  onDeleted(storeId: string): void;
  onClose(): void;
}

type View =
  | { kind: "list" }
  | { kind: "store"; storeId: string; tab: "files" | "search" }
  | {
      kind: "chunks";
      storeId: string;
      tab: "files" | "search";
      fileId: string;
      filename: string;
      focus?: number;
    };

/**
 * The knowledge panel: a drawer on a desktop, a full-screen sheet on a phone. Stores, then one store's files
 * (upload, status, chunks) and search. Escape goes back a level, then closes.
 */
export function KnowledgePanel({
  stores,
  attached,
  onToggleAttach,
  onDeleted,
  onClose,
}: KnowledgePanelProps) {
  const t = useStrings();
  const [view, setView] = useState<View>({ kind: "list" });
  const [search, setSearch] = useState<SearchState>({ storeId: "", query: "" });
  const panel = useRef<HTMLElement>(null);
  const refresh = stores.refresh;

  useEffect(() => {
    void refresh();
    panel.current?.focus();
  }, [refresh]);

  const viewRef = useRef(view);
  viewRef.current = view;
  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      if (event.key !== "Escape" || event.defaultPrevented) return;
      event.preventDefault();
      const v = viewRef.current;
      if (v.kind === "list") onClose();
      else
        setView(v.kind === "chunks" ? { kind: "store", storeId: v.storeId, tab: v.tab } : { kind: "list" });
    };
    // A file dropped beside the drop zone would otherwise make the browser leave the page to show it.
    const onDrag = (event: DragEvent) => {
      if (event.dataTransfer?.types.includes("Files")) event.preventDefault();
    };
    window.addEventListener("keydown", onKey);
    window.addEventListener("dragover", onDrag);
    window.addEventListener("drop", onDrag);
    return () => {
      window.removeEventListener("keydown", onKey);
      window.removeEventListener("dragover", onDrag);
      window.removeEventListener("drop", onDrag);
    };
  }, [onClose]);

  const storeOf = (id: string) => stores.stores?.find((s) => s.id === id);
  const isAttached = (id: string) => attached.some((a) => a.id === id);
  const current = view.kind === "list" ? undefined : storeOf(view.storeId);
  const title =
    view.kind === "list"
      ? t.knowledge
      : view.kind === "chunks"
        ? view.filename
        : current?.name || t.kbUntitled;
  const back = () =>
    setView((v) =>
      v.kind === "chunks" ? { kind: "store", storeId: v.storeId, tab: v.tab } : { kind: "list" },
    );

  return (
    <div className="panel-backdrop">
      <button type="button" className="backdrop-hit" tabIndex={-1} aria-label={t.close} onClick={onClose} />
      <section
        ref={panel}
        className="panel kb-panel"
        role="dialog"
        aria-modal="true"
        aria-labelledby="kb-title"
        tabIndex={-1}
        data-testid="knowledge-panel"
      >
        <header className="panel-head kb-head">
          {view.kind !== "list" && (
            <button
              type="button"
              className="icon-button"
              onClick={back}
              aria-label={t.kbBack}
              title={t.kbBack}
            >
              <Icon name="back" />
            </button>
          )}
          <h2 id="kb-title" className="ellipsis grow" title={title}>
            {title}
          </h2>
          <button
            type="button"
            className="icon-button"
            onClick={onClose}
            aria-label={t.close}
            title={t.close}
          >
            <Icon name="close" />
          </button>
        </header>
        {view.kind === "list" && (
          <StoreList
            stores={stores}
            isAttached={isAttached}
            onOpen={(storeId) => setView({ kind: "store", storeId, tab: "files" })}
            onToggleAttach={onToggleAttach}
            onDeleted={onDeleted}
          />
        )}
        {view.kind === "store" && (
          <div className="kb-store">
            <div className="kb-store-bar">
              <div className="kb-tabs" role="tablist">
                {(["files", "search"] as const).map((tab) => (
                  <button
                    key={tab}
                    type="button"
                    role="tab"
                    aria-selected={view.tab === tab}
                    className={`kb-tab${view.tab === tab ? " active" : ""}`}
                    onClick={() => setView({ ...view, tab })}
                  >
                    {tab === "files" ? t.kbTabFiles : t.kbTabSearch}
                  </button>
                ))}
              </div>
              {current && (
                <button
                  type="button"
                  className={`chip kb-use${isAttached(current.id) ? " on" : ""}`}
                  aria-pressed={isAttached(current.id)}
                  onClick={() => onToggleAttach(current)}
                >
                  <Icon name={isAttached(current.id) ? "check" : "plus"} size={14} />
                  {isAttached(current.id) ? t.kbInChat : t.kbUseInChat}
                </button>
              )}
            </div>
            {view.tab === "files" ? (
              <StoreView
                storeId={view.storeId}
                onChanged={() => void refresh()}
                onOpenChunks={(fileId, filename) =>
                  setView({ kind: "chunks", storeId: view.storeId, tab: "files", fileId, filename })
                }
              />
            ) : (
              <StoreSearch
                storeId={view.storeId}
                state={search.storeId === view.storeId ? search : { storeId: view.storeId, query: "" }}
                onState={(change) =>
                  setSearch((s) =>
                    change(s.storeId === view.storeId ? s : { storeId: view.storeId, query: "" }),
                  )
                }
                onOpenChunks={(fileId, filename, focus) =>
                  setView({ kind: "chunks", storeId: view.storeId, tab: "search", fileId, filename, focus })
                }
              />
            )}
          </div>
        )}
        {view.kind === "chunks" && (
          <FileChunks storeId={view.storeId} fileId={view.fileId} focus={view.focus} />
        )}
      </section>
    </div>
  );
}
