import type { Strings } from "../i18n.js";
import type { ServerStatus } from "../useModel.js";

/** Under the chat title: the served model, or why there is none yet. */
export function ModelStatus({
  status,
  model,
  t,
  onKey,
}: {
  status: ServerStatus;
  model?: string;
  t: Strings;
  /** Opens the API key dialog; offered while the server wants a key. */
  onKey(): void;
}) {
  if (status === "ready")
    return (
      <span className="model-name muted small" title={model}>
        {model}
      </span>
    );
  if (status === "unauthorized")
    return (
      <button type="button" className="model-name small status-unauthorized link-button" onClick={onKey}>
        {t.statusUnauthorized}
      </button>
    );
  const text = {
    connecting: "…",
    loading: t.modelLoading,
    offline: t.offlineBanner,
    forbidden: t.statusForbidden,
    failed: t.statusFailed,
  }[status];
  return <span className={`model-name small status-${status}`}>{text}</span>;
}

/** Prompt + completion tokens of the last request against the context window. */
export function ContextMeter({ used, size, label }: { used: number; size?: number; label: string }) {
  if (!size) return null;
  const pct = Math.min(100, (used / size) * 100);
  const level = pct > 90 ? "full" : pct > 70 ? "high" : "ok";
  return (
    <div
      className={`context-meter ${level}`}
      title={`${label}: ${used} / ${size}`}
      data-testid="context-meter"
    >
      <div className="meter-bar">
        <div style={{ width: `${pct}%` }} />
      </div>
      <span className="small muted">
        {used.toLocaleString()} / {size.toLocaleString()}
      </span>
    </div>
  );
}
