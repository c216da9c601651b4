import type { Strings } from "../i18n.js";
import type { ServerStatus } from "../useModel.js";

/** Under the chat title: the served model, or why there is none yet. */
export function ModelStatus({ status, model, t }: { status: ServerStatus; model?: string; t: Strings }) {
  if (status === "ready")
    return (
      <span className="model-name muted small" title={model}>
        {model}
      </span>
    );
  const text = status === "loading" ? t.modelLoading : status === "offline" ? t.offlineBanner : "…";
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
