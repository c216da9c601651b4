import { useEffect, useRef, useState } from "react";
import { Icon } from "../components/icons.js";
import { format, useStrings } from "../i18n.js";
import type { AttachedStore } from "../types.js";
import { apiProblem, ProblemText } from "./errors.js";
import { storeSummary } from "./StoreList.js";
import type { StoresState } from "./useStores.js";
import "./kb.css";

export interface AttachProps {
  attached: readonly AttachedStore[];
  stores: StoresState;
  onChange(attached: AttachedStore[]): void;
  onManage(): void;
}

/**
 * The composer's knowledge button: a menu of the stores with a check box each. The stores the chat uses
 * are kept with the chat, and each question then sends `file_search: {vector_store_ids}`.
 */
export function AttachButton({ attached, stores, onChange, onManage }: AttachProps) {
  const t = useStrings();
  const [open, setOpen] = useState(false);
  const root = useRef<HTMLDivElement>(null);
  const refresh = stores.refresh;

  useEffect(() => {
    if (!open) return;
    void refresh();
    const onPointer = (event: PointerEvent) => {
      if (!root.current?.contains(event.target as Node)) setOpen(false);
    };
    const onKey = (event: KeyboardEvent) => {
      if (event.key !== "Escape") return;
      event.preventDefault();
      setOpen(false);
      root.current?.querySelector<HTMLButtonElement>(".kb-attach-button")?.focus();
    };
    document.addEventListener("pointerdown", onPointer);
    document.addEventListener("keydown", onKey);
    return () => {
      document.removeEventListener("pointerdown", onPointer);
      document.removeEventListener("keydown", onKey);
    };
  }, [open, refresh]);

  const list = stores.stores;
  const isOn = (id: string) => attached.some((a) => a.id === id);
  return (
    <div className="kb-attach" ref={root}>
      <button
        type="button"
        className={`icon-button kb-attach-button${attached.length > 0 ? " on" : ""}`}
        aria-label={t.kbAttach}
        title={t.kbAttach}
        aria-expanded={open}
        aria-haspopup="true"
        onClick={() => setOpen((o) => !o)}
      >
        <Icon name="book" />
        {attached.length > 0 && <span className="kb-count">{attached.length}</span>}
      </button>
      {open && (
        <section className="kb-menu" aria-labelledby="kb-menu-title">
          <div className="kb-menu-head">
            <strong id="kb-menu-title">{t.kbAttach}</strong>
            <span className="muted small">{t.kbAttachHint}</span>
          </div>
          {stores.error && !list && <ProblemText problem={apiProblem(stores.error, t)} />}
          {!list && !stores.error && <p className="muted small">{t.kbLoading}</p>}
          {list?.length === 0 && <p className="muted small">{t.kbNone}</p>}
          {list && list.length > 0 && (
            <ul className="kb-menu-list">
              {list.map((store) => (
                <li key={store.id}>
                  <label className="kb-menu-item">
                    <input
                      type="checkbox"
                      checked={isOn(store.id)}
                      onChange={(e) =>
                        onChange(
                          e.target.checked
                            ? [...attached, { id: store.id, name: store.name }]
                            : attached.filter((a) => a.id !== store.id),
                        )
                      }
                    />
                    <span className="grow">
                      <span className="ellipsis block">{store.name || t.kbUntitled}</span>
                      <span className="muted small block">{storeSummary(store, t)}</span>
                    </span>
                  </label>
                </li>
              ))}
            </ul>
          )}
          <button
            type="button"
            className="ghost kb-manage"
            onClick={() => {
              setOpen(false);
              onManage();
            }}
          >
            <Icon name="settings" size={16} /> {t.kbManage}
          </button>
        </section>
      )}
    </div>
  );
}

/** The stores the chat uses, as chips above the composer; × stops using one. */
export function AttachedChips({
  attached,
  onChange,
}: {
  attached: readonly AttachedStore[];
  onChange(attached: AttachedStore[]): void;
}) {
  const t = useStrings();
  if (attached.length === 0) return null;
  return (
    <ul className="kb-chips" aria-label={t.kbAttach}>
      {attached.map((store) => (
        <li key={store.id} className="kb-chip" data-store-id={store.id}>
          <Icon name="book" size={13} />
          <span className="ellipsis">{store.name || t.kbUntitled}</span>
          <button
            type="button"
            aria-label={format(t.kbDetach, { name: store.name || t.kbUntitled })}
            title={format(t.kbDetach, { name: store.name || t.kbUntitled })}
            onClick={() => onChange(attached.filter((a) => a.id !== store.id))}
          >
            <Icon name="close" size={12} />
          </button>
        </li>
      ))}
    </ul>
  );
}
