import { type ChangeEvent, useMemo, useRef, useState } from "react";
import type { HistoryMode } from "../history/useHistory.js";
import { format, useStrings } from "../i18n.js";
import type { Conversation } from "../types.js";
import { Icon } from "./icons.js";

export interface SidebarProps {
  conversations: Conversation[];
  activeId: string | undefined;
  open: boolean;
  busyId: string | undefined;
  onSelect(id: string): void;
  onNew(): void;
  onRename(id: string, title: string): void;
  onDelete(id: string): void;
  onExport(): void;
  onImport(file: File): void;
  onClose(): void;
  notice?: string;
  /** Called when a search starts, so that chats whose messages are not fetched yet can be. */
  onSearch?(): void;
  /** Where the chats are kept. */
  history: HistoryMode;
  /** Chats kept in this browser only, while the history is on the server: the offer to move them. */
  browserOnly: number;
  moving: boolean;
  onMove(): void;
}

/** The chat list: newest first, searchable by title and content. */
export function Sidebar(props: SidebarProps) {
  const t = useStrings();
  const [query, setQuery] = useState("");
  const fileInput = useRef<HTMLInputElement>(null);
  const visible = useMemo(() => {
    const q = query.trim().toLowerCase();
    return [...props.conversations]
      .sort((a, b) => b.updatedAt - a.updatedAt)
      .filter(
        (c) =>
          q === "" ||
          c.title.toLowerCase().includes(q) ||
          c.messages.some((m) => m.content.toLowerCase().includes(q)),
      );
  }, [props.conversations, query]);

  const onFile = (event: ChangeEvent<HTMLInputElement>) => {
    const file = event.target.files?.[0];
    if (file) props.onImport(file);
    event.target.value = "";
  };

  return (
    <aside className={`sidebar${props.open ? " open" : ""}`} aria-label={t.menu}>
      <div className="sidebar-head">
        <div className="brand">
          <span className="logo" aria-hidden="true" />
          edgellm
        </div>
        <button
          type="button"
          className="icon-button only-mobile"
          onClick={props.onClose}
          aria-label={t.close}
        >
          <Icon name="close" />
        </button>
      </div>
      <button type="button" className="new-chat" onClick={props.onNew}>
        <Icon name="plus" /> {t.newChat}
      </button>
      <label className="search">
        <Icon name="search" size={16} />
        <input
          type="search"
          value={query}
          placeholder={t.search}
          aria-label={t.search}
          onChange={(e) => {
            if (query === "" && e.target.value !== "") props.onSearch?.();
            setQuery(e.target.value);
          }}
        />
      </label>
      {props.history === "server" && props.browserOnly > 0 && (
        <div className="move-offer" data-testid="move-offer">
          <p className="small">{format(t.browserOnlyN, { n: props.browserOnly })}</p>
          <button type="button" className="ghost" onClick={props.onMove} disabled={props.moving}>
            <Icon name="upload" size={16} /> {props.moving ? t.movingChats : t.moveToServer}
          </button>
        </div>
      )}
      <nav className="chat-list">
        {visible.length === 0 && <p className="muted small empty-list">{query ? t.noMatches : t.noChats}</p>}
        {visible.map((c) => (
          <ChatItem
            key={c.id}
            conversation={c}
            active={c.id === props.activeId}
            busy={c.id === props.busyId}
            onSelect={() => props.onSelect(c.id)}
            onRename={(title) => props.onRename(c.id, title)}
            onDelete={() => props.onDelete(c.id)}
          />
        ))}
      </nav>
      <div className="sidebar-foot">
        {props.notice && <p className="small notice-line">{props.notice}</p>}
        {props.history !== "pending" && (
          <p className="small muted notice-line" data-testid="history-mode">
            {props.history === "server" ? t.historyOnServer : t.historyInBrowser}
          </p>
        )}
        <div className="row">
          <button type="button" className="ghost" onClick={props.onExport}>
            <Icon name="download" size={16} /> {t.exportChats}
          </button>
          <button type="button" className="ghost" onClick={() => fileInput.current?.click()}>
            <Icon name="upload" size={16} /> {t.importChats}
          </button>
          <input ref={fileInput} type="file" accept="application/json,.json" hidden onChange={onFile} />
        </div>
      </div>
    </aside>
  );
}

function ChatItem(props: {
  conversation: Conversation;
  active: boolean;
  busy: boolean;
  onSelect(): void;
  onRename(title: string): void;
  onDelete(): void;
}) {
  const t = useStrings();
  const [editing, setEditing] = useState(false);
  const [confirming, setConfirming] = useState(false);
  const title = props.conversation.title || t.untitled;

  if (editing)
    return (
      <form
        className="chat-item editing"
        onSubmit={(e) => {
          e.preventDefault();
          const value = new FormData(e.currentTarget).get("title");
          if (typeof value === "string" && value.trim()) props.onRename(value.trim());
          setEditing(false);
        }}
      >
        <input
          name="title"
          defaultValue={title}
          aria-label={t.rename}
          // biome-ignore lint/a11y/noAutofocus: the user just asked to rename this chat.
          autoFocus
          onFocus={(e) => e.currentTarget.select()}
          onBlur={(e) => e.currentTarget.form?.requestSubmit()}
          onKeyDown={(e) => {
            if (e.key === "Escape") setEditing(false);
          }}
        />
      </form>
    );

  return (
    <div className={`chat-item${props.active ? " active" : ""}`} data-chat-id={props.conversation.id}>
      <button
        type="button"
        className="chat-title"
        onClick={props.onSelect}
        onDoubleClick={() => setEditing(true)}
        aria-current={props.active ? "page" : undefined}
        title={title}
      >
        {props.busy && <span className="pulse" aria-hidden="true" />}
        <span className="ellipsis">{title}</span>
      </button>
      {confirming ? (
        <button
          type="button"
          className="danger small-button"
          onClick={props.onDelete}
          onBlur={() => setConfirming(false)}
          // biome-ignore lint/a11y/noAutofocus: focus moves to the confirmation the user just opened.
          autoFocus
        >
          {t.confirmDelete}
        </button>
      ) : (
        <span className="chat-actions">
          <button
            type="button"
            className="icon-button"
            aria-label={t.rename}
            title={t.rename}
            onClick={() => setEditing(true)}
          >
            <Icon name="edit" size={15} />
          </button>
          <button
            type="button"
            className="icon-button"
            aria-label={t.delete}
            title={t.delete}
            onClick={() => setConfirming(true)}
          >
            <Icon name="trash" size={15} />
          </button>
        </span>
      )}
    </div>
  );
}
