import { memo, useMemo, useState } from "react";
import { copyText } from "../clipboard.js";
import { format, type Strings, useStrings } from "../i18n.js";
import { CitationDialog, Sources } from "../kb/Citations.js";
import { citedIndices } from "../kb/citations.js";
import { validCitations } from "../kb/stored.js";
import type { AnswerError, AnswerStats, Message } from "../types.js";
import { Icon } from "./icons.js";
import { Markdown } from "./Markdown.js";

export interface MessageViewProps {
  message: Message;
  /** This answer is streaming; `waiting` until its first token. */
  streaming: boolean;
  waiting: boolean;
  /** Another generation is running: actions that start one are disabled. */
  locked: boolean;
  isLast: boolean;
  contextSize?: number;
  onRegenerate(): void;
  onEdit(content: string): void;
  onStop(): void;
}

export const MessageView = memo(function MessageView(props: MessageViewProps) {
  const { message } = props;
  return message.role === "user" ? <UserMessage {...props} /> : <AssistantMessage {...props} />;
});

function UserMessage({ message, locked, onEdit }: MessageViewProps) {
  const t = useStrings();
  const [draft, setDraft] = useState<string | null>(null);
  if (draft !== null)
    return (
      <div className="message user editing">
        <textarea
          className="edit-box"
          value={draft}
          aria-label={t.edit}
          rows={Math.min(10, draft.split("\n").length + 1)}
          onChange={(e) => setDraft(e.target.value)}
          onKeyDown={(e) => {
            if (e.key === "Escape") setDraft(null);
            if (e.key === "Enter" && !e.shiftKey && !e.nativeEvent.isComposing && draft.trim() && !locked) {
              e.preventDefault();
              onEdit(draft.trim());
              setDraft(null);
            }
          }}
        />
        <div className="row end">
          <button type="button" className="ghost" onClick={() => setDraft(null)}>
            {t.cancel}
          </button>
          <button
            type="button"
            className="primary"
            disabled={locked || !draft.trim()}
            onClick={() => {
              onEdit(draft.trim());
              setDraft(null);
            }}
          >
            {t.saveAndSend}
          </button>
        </div>
      </div>
    );
  return (
    <div className="message user" data-role="user">
      <div className="bubble">{message.content}</div>
      <div className="actions">
        <CopyButton text={message.content} />
        <button
          type="button"
          className="icon-button"
          aria-label={t.edit}
          title={t.edit}
          disabled={locked}
          onClick={() => setDraft(message.content)}
        >
          <Icon name="edit" size={15} />
        </button>
      </div>
    </div>
  );
}

function AssistantMessage(props: MessageViewProps) {
  const t = useStrings();
  const { message, streaming, waiting } = props;
  const stats = message.stats;
  const [opened, setOpened] = useState<number>();
  const citations = useMemo(() => validCitations(message.citations), [message.citations]);
  const cites = useMemo(() => citations.map((c) => c.index), [citations]);
  // Sources listed: the ones the answer refers to, or all it was given when it refers to none.
  const cited = useMemo(() => {
    const used = new Set(citedIndices(message.content));
    const referred = citations.filter((c) => used.has(c.index));
    return referred.length > 0 ? referred : citations;
  }, [citations, message.content]);
  const openedCitation = citations.find((c) => c.index === opened);
  return (
    <div className="message assistant" data-role="assistant" aria-busy={streaming}>
      {stats?.droppedMessages ? (
        <p className="context-notice" role="note">
          <Icon name="alert" size={15} />{" "}
          {format(t.droppedNotice, { n: stats.droppedMessages, ctx: props.contextSize ?? "?" })}
        </p>
      ) : null}
      {waiting ? (
        <div className="thinking" role="status">
          <span className="dots" aria-hidden="true">
            <i />
            <i />
            <i />
          </span>
          {t.thinking}
        </div>
      ) : (
        message.content !== "" && (
          <div className={`answer${streaming ? " streaming" : ""}`}>
            <Markdown text={message.content} cites={cites} onCite={setOpened} />
          </div>
        )
      )}
      {!streaming && message.content !== "" && <Sources citations={cited} onOpen={setOpened} />}
      {openedCitation && <CitationDialog citation={openedCitation} onClose={() => setOpened(undefined)} />}
      {message.error && (
        <ErrorCard error={message.error} onRetry={props.onRegenerate} locked={props.locked} />
      )}
      {!streaming && (
        <div className="actions">
          {message.content !== "" && <CopyButton text={message.content} />}
          {props.isLast && !message.error && (
            <button
              type="button"
              className="icon-button"
              aria-label={t.regenerate}
              title={t.regenerate}
              disabled={props.locked}
              onClick={props.onRegenerate}
            >
              <Icon name="refresh" size={15} />
            </button>
          )}
          {stats && !(message.error && message.content === "") && <StatsLine stats={stats} t={t} />}
        </div>
      )}
      {streaming && !waiting && (
        <div className="actions">
          <button type="button" className="chip" onClick={props.onStop}>
            <Icon name="stop" size={13} /> {t.stop}
          </button>
        </div>
      )}
    </div>
  );
}

function StatsLine({ stats, t }: { stats: AnswerStats; t: Strings }) {
  const parts: string[] = [];
  if (stats.tokensPerSecond) parts.push(`${stats.tokensPerSecond.toFixed(1)} ${t.tokensPerSecond}`);
  if (stats.completionTokens !== undefined) parts.push(`${stats.completionTokens} ${t.tokens}`);
  if (stats.promptTokens !== undefined) parts.push(`${t.prompt} ${stats.promptTokens}`);
  if (stats.finishReason === "stopped") parts.push(t.stopped);
  if (stats.finishReason === "length") parts.push(t.truncated);
  return (
    <div className="stats" data-testid="stats">
      {parts.length > 0 && <span>{parts.join(" · ")}</span>}
      {stats.model && <span className="model-tag">{stats.model}</span>}
      {stats.route && (
        <span className="route-tag" title={stats.routeReason}>
          {t.route}: {stats.route}
          {stats.routeReason ? ` (${stats.routeReason})` : ""}
        </span>
      )}
    </div>
  );
}

function ErrorCard({ error, onRetry, locked }: { error: AnswerError; onRetry(): void; locked: boolean }) {
  const t = useStrings();
  return (
    <div className={`error-card ${error.kind}`} role="alert">
      <Icon name="alert" />
      <div className="grow">
        <strong>{errorTitle(error, t)}</strong>
        {error.message && error.kind !== "offline" && <p className="small">{error.message}</p>}
        {error.retryAfter ? <p className="small">{waitText(error.retryAfter, t)}</p> : null}
      </div>
      <button type="button" className="primary" onClick={onRetry} disabled={locked}>
        <Icon name="refresh" size={15} /> {t.retry}
      </button>
    </div>
  );
}

function errorTitle(error: AnswerError, t: Strings): string {
  switch (error.kind) {
    case "auth":
      return error.keySent ? t.errAuthRejected : t.errAuthRequired;
    case "forbidden":
      // What to start the server with, for the address this page was opened at.
      return error.code === "host_not_allowed"
        ? format(t.errHost, { host: window.location.hostname })
        : format(t.errOrigin, { origin: window.location.origin });
    case "unavailable":
      if (error.code === "model_load_failed") return t.errLoadFailed;
      if (error.code === "shutting_down") return t.errShuttingDown;
      return t.errUnavailable;
    default:
      return {
        busy: t.errBusy,
        rateLimited: t.errRateLimited,
        loading: t.errLoading,
        offline: t.errOffline,
        context: t.errContext,
        server: t.errServer,
      }[error.kind];
  }
}

/** Retry-After in words: a per-day token limit can ask for hours, which read badly as seconds. */
function waitText(seconds: number, t: Strings): string {
  if (seconds < 120) return format(t.retryIn, { s: Math.ceil(seconds) });
  if (seconds < 2 * 3600) return format(t.retryInMin, { m: Math.ceil(seconds / 60) });
  return format(t.retryInHours, { h: Math.ceil(seconds / 3600) });
}

function CopyButton({ text }: { text: string }) {
  const t = useStrings();
  const [copied, setCopied] = useState(false);
  return (
    <button
      type="button"
      className="icon-button"
      aria-label={copied ? t.copied : t.copy}
      title={copied ? t.copied : t.copy}
      onClick={() =>
        void copyText(text).then((ok) => {
          if (!ok) return;
          setCopied(true);
          setTimeout(() => setCopied(false), 1500);
        })
      }
    >
      <Icon name={copied ? "check" : "copy"} size={15} />
    </button>
  );
}
