import { useEffect } from "react";
import { useStrings } from "../i18n.js";
import { DEFAULT_SETTINGS, type Lang, type Settings, type Theme } from "../types.js";
import { Icon } from "./icons.js";

export interface SettingsPanelProps {
  settings: Settings;
  onChange(settings: Settings): void;
  theme: Theme;
  onTheme(theme: Theme): void;
  lang: Lang;
  onLang(lang: Lang): void;
  /** Whether an API key is saved in this browser (never the key itself). */
  hasKey: boolean;
  onChangeKey(): void;
  onForgetKey(): void;
  onClose(): void;
}

/** System prompt, sampling, JSON mode, language, theme and the API key. Changes apply to the next request. */
export function SettingsPanel({
  settings,
  onChange,
  theme,
  onTheme,
  lang,
  onLang,
  hasKey,
  onChangeKey,
  onForgetKey,
  onClose,
}: SettingsPanelProps) {
  const t = useStrings();
  useEffect(() => {
    const onKey = (event: KeyboardEvent) => event.key === "Escape" && onClose();
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [onClose]);
  const set = <K extends keyof Settings>(key: K, value: Settings[K]) =>
    onChange({ ...settings, [key]: value });
  const num = (value: string, fallback: number) =>
    value.trim() === "" || Number.isNaN(Number(value)) ? fallback : Number(value);
  return (
    <div className="panel-backdrop">
      <button type="button" className="backdrop-hit" tabIndex={-1} aria-label={t.close} onClick={onClose} />
      <section className="panel" role="dialog" aria-modal="true" aria-labelledby="settings-title">
        <header className="panel-head">
          <h2 id="settings-title">{t.settings}</h2>
          <button type="button" className="icon-button" onClick={onClose} aria-label={t.close}>
            <Icon name="close" />
          </button>
        </header>
        <div className="panel-body">
          <div className="field two">
            <label>
              {t.language}
              <select value={lang} onChange={(e) => onLang(e.target.value as Lang)} data-testid="lang-select">
                <option value="en">English</option>
                <option value="zh">中文</option>
              </select>
            </label>
            <label>
              {t.theme}
              <select value={theme} onChange={(e) => onTheme(e.target.value as Theme)}>
                <option value="system">{t.themeSystem}</option>
                <option value="light">{t.themeLight}</option>
                <option value="dark">{t.themeDark}</option>
              </select>
            </label>
          </div>
          <label className="field">
            {t.systemPrompt}
            <textarea
              rows={4}
              value={settings.systemPrompt}
              placeholder={t.systemPromptHint}
              onChange={(e) => set("systemPrompt", e.target.value)}
            />
          </label>
          <label className="field">
            <span className="between">
              {t.temperature} <output>{settings.temperature.toFixed(2)}</output>
            </span>
            <input
              type="range"
              min={0}
              max={2}
              step={0.05}
              value={settings.temperature}
              onChange={(e) => set("temperature", Number(e.target.value))}
            />
          </label>
          <label className="field">
            <span className="between">
              {t.topP} <output>{settings.topP.toFixed(2)}</output>
            </span>
            <input
              type="range"
              min={0.05}
              max={1}
              step={0.05}
              value={settings.topP}
              onChange={(e) => set("topP", Number(e.target.value))}
            />
          </label>
          <label className="field">
            <span className="between">
              {t.maxTokens} <span className="muted small">{t.maxTokensHint}</span>
            </span>
            <input
              type="number"
              min={0}
              step={64}
              inputMode="numeric"
              value={settings.maxTokens}
              onChange={(e) => set("maxTokens", Math.max(0, Math.floor(num(e.target.value, 0))))}
              data-testid="max-tokens"
            />
          </label>
          <label className="field check">
            <input
              type="checkbox"
              checked={settings.jsonMode}
              onChange={(e) => set("jsonMode", e.target.checked)}
            />
            <span>
              {t.jsonMode}
              <span className="muted small block">{t.jsonModeHint}</span>
            </span>
          </label>
          <details className="field">
            <summary>{t.advanced}</summary>
            <label className="field check">
              <input
                type="checkbox"
                checked={settings.ignoreEos}
                onChange={(e) => set("ignoreEos", e.target.checked)}
                data-testid="ignore-eos"
              />
              <span>{t.ignoreEos}</span>
            </label>
            <label className="field">
              <span className="between">
                {t.seed} <span className="muted small">{t.seedHint}</span>
              </span>
              <input
                type="text"
                inputMode="numeric"
                value={settings.seed}
                onChange={(e) => set("seed", e.target.value.replace(/[^\d-]/g, ""))}
              />
            </label>
          </details>
          <div className="field">
            <span className="between">
              <span>{t.apiKey}</span>
              <span className="muted small" data-testid="key-status">
                {hasKey ? t.keyStatusSaved : t.keyStatusNone}
              </span>
            </span>
            <span className="row">
              <button type="button" className="ghost outlined" onClick={onChangeKey}>
                {hasKey ? t.changeKey : t.enterKey}
              </button>
              {hasKey && (
                <button type="button" className="ghost outlined" onClick={onForgetKey}>
                  {t.forgetKey}
                </button>
              )}
            </span>
          </div>
          <button type="button" className="ghost" onClick={() => onChange(DEFAULT_SETTINGS)}>
            {t.resetDefaults}
          </button>
        </div>
      </section>
    </div>
  );
}
