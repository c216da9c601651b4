import { type FormEvent, useState } from "react";
import { ApiError } from "../api.js";
import { Icon } from "../components/icons.js";
import { format, type Strings, useStrings } from "../i18n.js";
import { createStore, deleteStore, renameStore } from "./api.js";
import { apiProblem, type Problem, ProblemText } from "./errors.js";
import { formatBytes } from "./format.js";
import type { Store } from "./types.js";
import { type StoresState, usePoll } from "./useStores.js";

export interface StoreListProps {
  stores: StoresState;
  isAttached(storeId: string): boolean;
  onOpen(storeId: string): void;
  onToggleAttach(store: Store): void;
  onDeleted(storeId: string): void;
}

/** The stores: create, open, rename, delete (with a confirmation), and use in the current chat. */
export function StoreList({ stores, isAttached, onOpen, onToggleAttach, onDeleted }: StoreListProps) {
  const t = useStrings();
  const [name, setName] = useState("");
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<Problem>();
  const list = stores.stores;
  // Counts change while files are indexed: follow them while the list is on screen.
  usePoll(stores.refresh, !!list?.some((s) => s.files.inProgress > 0));

  const fail = (error: unknown) =>
    setProblem(
      apiProblem(error instanceof ApiError ? error.error : { kind: "server", message: String(error) }, t),
    );

  const create = async (event: FormEvent) => {
    event.preventDefault();
    const trimmed = name.trim();
    if (!trimmed || busy) return;
    setBusy(true);
    setProblem(undefined);
    try {
      const store = await createStore(trimmed);
      stores.update((all) => [store, ...all.filter((s) => s.id !== store.id)]);
      setName("");
      onOpen(store.id);
    } catch (error) {
      fail(error);
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="panel-body kb-body">
      <p className="muted small kb-intro">{t.kbIntro}</p>
      <form className="kb-create" onSubmit={(e) => void create(e)}>
        <input
          type="text"
          value={name}
          maxLength={256}
          placeholder={t.kbNewName}
          aria-label={t.kbNewName}
          onChange={(e) => setName(e.target.value)}
        />
        <button type="submit" className="primary" disabled={busy || !name.trim()}>
          <Icon name="plus" size={16} /> {t.kbCreate}
        </button>
      </form>
      {problem && <ProblemText problem={problem} />}
      {stores.error && !list && <ProblemText problem={apiProblem(stores.error, t)} />}
      {!list && !stores.error && <p className="muted small">{t.kbLoading}</p>}
      {list?.length === 0 && <p className="muted small">{t.kbNone}</p>}
      {list && list.length > 0 && (
        <ul className="kb-list" aria-label={t.knowledge}>
          {list.map((store) => (
            <StoreRow
              key={store.id}
              store={store}
              attached={isAttached(store.id)}
              onOpen={() => onOpen(store.id)}
              onToggleAttach={() => onToggleAttach(store)}
              onRename={async (newName) => {
                // Shown at once, taken back if the server refuses.
                const rename = (name: string) =>
                  stores.update((all) => all.map((s) => (s.id === store.id ? { ...s, name } : s)));
                rename(newName);
                try {
                  rename((await renameStore(store.id, newName)).name);
                } catch (error) {
                  rename(store.name);
                  fail(error);
                }
              }}
              onDelete={async () => {
                try {
                  await deleteStore(store.id);
                  stores.update((all) => all.filter((s) => s.id !== store.id));
                  onDeleted(store.id);
                } catch (error) {
                  fail(error);
                }
              }}
            />
          ))}
        </ul>
      )}
    </div>
  );
}

/** "3 files · 1.2 MB · 1 indexing" */
export function storeSummary(store: Store, t: Strings): string {
  const { total, inProgress, failed } = store.files;
  const parts = [total === 1 ? t.kbFileOne : format(t.kbFilesN, { n: total }), formatBytes(store.bytes)];
  if (inProgress > 0) parts.push(format(t.kbIndexingN, { n: inProgress }));
  if (failed > 0) parts.push(format(t.kbFailedN, { n: failed }));
  if (store.status === "expired") parts.push(t.kbExpired);
  return parts.join(" · ");
}

function StoreRow(props: {
  store: Store;
  attached: boolean;
  onOpen(): void;
  onToggleAttach(): void;
  onRename(name: string): Promise<void>;
  onDelete(): Promise<void>;
}) {
  const t = useStrings();
  const { store } = props;
  const [editing, setEditing] = useState(false);
  const [confirming, setConfirming] = useState(false);
  const name = store.name || t.kbUntitled;

  if (editing)
    return (
      <li className="kb-row editing">
        <form
          onSubmit={(e) => {
            e.preventDefault();
            const value = new FormData(e.currentTarget).get("name");
            setEditing(false);
            if (typeof value === "string" && value.trim() && value.trim() !== store.name)
              void props.onRename(value.trim());
          }}
        >
          <input
            name="name"
            defaultValue={store.name}
            maxLength={256}
            aria-label={t.rename}
            // biome-ignore lint/a11y/noAutofocus: the user just asked to rename this store.
            autoFocus
            onFocus={(e) => e.currentTarget.select()}
            onBlur={(e) => e.currentTarget.form?.requestSubmit()}
            onKeyDown={(e) => {
              if (e.key === "Escape") {
                e.preventDefault();
                setEditing(false);
              }
            }}
          />
        </form>
      </li>
    );

  return (
    <li className={`kb-row${props.attached ? " attached" : ""}`} data-store-id={store.id}>
      <button type="button" className="kb-row-main" onClick={props.onOpen}>
        <span className="kb-row-icon" aria-hidden="true">
          <Icon name="book" size={18} />
        </span>
        <span className="grow">
          <span className="kb-row-name ellipsis block">{name}</span>
          <span className="muted small block">{storeSummary(store, t)}</span>
        </span>
      </button>
      <span className="kb-row-actions">
        <button
          type="button"
          className={`icon-button kb-toggle${props.attached ? " on" : ""}`}
          aria-pressed={props.attached}
          aria-label={`${t.kbUseInChat}: ${name}`}
          title={props.attached ? t.kbInChat : t.kbUseInChat}
          onClick={props.onToggleAttach}
        >
          <Icon name={props.attached ? "check" : "plus"} size={15} />
        </button>
        {confirming ? (
          <button
            type="button"
            className="danger small-button"
            onClick={() => {
              setConfirming(false);
              void props.onDelete();
            }}
            onBlur={() => setConfirming(false)}
            // biome-ignore lint/a11y/noAutofocus: focus moves to the confirmation the user just opened.
            autoFocus
          >
            {t.confirmDelete}
          </button>
        ) : (
          <>
            <button
              type="button"
              className="icon-button"
              aria-label={`${t.rename}: ${name}`}
              title={t.rename}
              onClick={() => setEditing(true)}
            >
              <Icon name="edit" size={15} />
            </button>
            <button
              type="button"
              className="icon-button"
              aria-label={`${t.delete}: ${name}`}
              title={t.delete}
              onClick={() => setConfirming(true)}
            >
              <Icon name="trash" size={15} />
            </button>
          </>
        )}
      </span>
    </li>
  );
}
