import { useCallback, useEffect, useRef, useState } from "react";
import { getApiKey, setApiKey, useApiKey } from "./apiKey.js";
import { Composer } from "./components/Composer.js";
import { Icon } from "./components/icons.js";
import { KeyDialog, type KeyDialogProps } from "./components/KeyDialog.js";
import { MessageView } from "./components/MessageView.js";
import { SettingsPanel } from "./components/SettingsPanel.js";
import { Sidebar } from "./components/Sidebar.js";
import { ContextMeter, ModelStatus } from "./components/Status.js";
import { Transcript } from "./components/Transcript.js";
import { detectLang, format, I18nContext, STRINGS } from "./i18n.js";
import { AttachButton, AttachedChips } from "./kb/AttachStores.js";
import { KnowledgePanel } from "./kb/KnowledgePanel.js";
import { useChatKnowledge } from "./kb/useChatKnowledge.js";
import { useStores } from "./kb/useStores.js";
import {
  exportJson,
  loadPrefs,
  loadSettings,
  type Prefs,
  parseImport,
  savePrefs,
  saveSettings,
} from "./storage.js";
import type { Settings } from "./types.js";
import { useChat } from "./useChat.js";
import { useModel } from "./useModel.js";

/** An answer that failed for want of a key, to ask again once one is saved. */
interface FailedAnswer {
  conversationId: string;
  messageId: string;
}

export function App() {
  const [prefs, setPrefs] = useState<Prefs>(loadPrefs);
  const [settings, setSettings] = useState<Settings>(loadSettings);
  const [sidebarOpen, setSidebarOpen] = useState(false);
  const [settingsOpen, setSettingsOpen] = useState(false);
  const [knowledgeOpen, setKnowledgeOpen] = useState(false);
  const kb = useStores();
  const [notice, setNotice] = useState<string>();
  const [dark, setDark] = useState(false);
  const { model, status, refresh } = useModel();
  const hasKey = useApiKey() !== undefined;
  const [keyPrompt, setKeyPrompt] = useState<KeyDialogProps["reason"]>();
  const failedForKey = useRef<FailedAnswer | undefined>(undefined);
  const [retryWithKey, setRetryWithKey] = useState<FailedAnswer>();
  const chat = useChat(settings, model, ({ conversationId, messageId, keySent }) => {
    failedForKey.current = { conversationId, messageId };
    setKeyPrompt(keySent ? "stale" : "required");
  });
  const lang = prefs.lang ?? detectLang();
  const t = STRINGS[lang];
  const active = chat.conversations.find((c) => c.id === prefs.activeId);
  const generating = chat.generating;

  useEffect(() => savePrefs(prefs), [prefs]);
  useEffect(() => saveSettings(settings), [settings]);
  useEffect(() => {
    document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  }, [lang]);
  useEffect(() => {
    const query = window.matchMedia("(prefers-color-scheme: dark)");
    const apply = () => {
      const theme = prefs.theme === "system" ? (query.matches ? "dark" : "light") : prefs.theme;
      document.documentElement.dataset.theme = theme;
      setDark(theme === "dark");
    };
    apply();
    query.addEventListener("change", apply);
    return () => query.removeEventListener("change", apply);
  }, [prefs.theme]);
  useEffect(() => {
    document.title = active?.title ? `${active.title} · edgellm` : "edgellm";
  }, [active?.title]);

  const lastAnswer = active?.messages.findLast(
    (m) => m.role === "assistant" && m.stats?.promptTokens !== undefined,
  );
  // An offline failure means our view of the server is stale: look again.
  const lastError = active?.messages.at(-1)?.error?.kind;
  useEffect(() => {
    if (lastError === "offline" || lastError === "loading" || lastError === "unavailable") refresh();
  }, [lastError, refresh]);

  // The server wants a key the page does not have (or refused the saved one): ask once per refusal.
  useEffect(() => {
    if (status === "unauthorized") setKeyPrompt((open) => open ?? (getApiKey() ? "stale" : "required"));
  }, [status]);
  // A key was saved after an answer failed for want of one: answer again, once the model list is back
  // (it may have been refused too, and the retry should use the model's context size).
  useEffect(() => {
    if (!retryWithKey || status !== "ready" || generating) return;
    setRetryWithKey(undefined);
    chat.regenerate(retryWithKey.conversationId, retryWithKey.messageId);
  }, [retryWithKey, status, generating, chat.regenerate]);

  // A server chat's messages are fetched when it is opened.
  const unloaded = active?.unloaded === true;
  const load = chat.history.load;
  useEffect(() => {
    if (active?.id && unloaded) void load(active.id);
  }, [active?.id, unloaded, load]);

  const knowledge = useChatKnowledge(active, chat.setConversations, kb);
  const attached = knowledge.attached;

  const select = (activeId: string | undefined) => {
    setPrefs((p) => ({ ...p, activeId }));
    setSidebarOpen(false);
  };
  const send = (text: string) => select(chat.send(active?.id, text, attached));

  const onExport = async () => {
    // Server chats not opened yet are fetched first, so the file holds every message.
    const all = await chat.history.loadAll();
    const url = URL.createObjectURL(new Blob([exportJson(all)], { type: "application/json" }));
    const link = document.createElement("a");
    link.href = url;
    link.download = `edgellm-chats-${new Date().toISOString().slice(0, 10)}.json`;
    link.click();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  };
  const onImport = async (file: File) => {
    try {
      const imported = parseImport(await file.text(), new Set(chat.conversations.map((c) => c.id)));
      chat.setConversations((list) => [...imported, ...list]);
      flash(format(t.importedN, { n: imported.length }));
    } catch {
      flash(t.importFailed);
    }
  };
  const closeKnowledge = useCallback(() => setKnowledgeOpen(false), []);
  const flash = (text: string) => {
    setNotice(text);
    setTimeout(() => setNotice(undefined), 4000);
  };

  const used = lastAnswer?.stats
    ? (lastAnswer.stats.promptTokens ?? 0) + (lastAnswer.stats.completionTokens ?? 0)
    : 0;
  const messages = active?.messages ?? [];
  const droppedAt = messages.at(-1)?.stats?.droppedMessages;

  return (
    <I18nContext.Provider value={t}>
      <div className="app">
        <Sidebar
          conversations={chat.conversations}
          activeId={active?.id}
          busyId={generating?.conversationId}
          open={sidebarOpen}
          notice={notice}
          onSelect={select}
          onNew={() => select(undefined)}
          onRename={(id, title) =>
            chat.setConversations((list) => list.map((c) => (c.id === id ? { ...c, title } : c)))
          }
          onDelete={(id) => {
            if (generating?.conversationId === id) chat.stop();
            chat.remove(id);
            if (id === active?.id) select(undefined);
          }}
          onExport={() => void onExport()}
          onSearch={() => void chat.history.loadAll()}
          history={chat.history.mode}
          browserOnly={chat.history.browserOnly}
          moving={chat.history.moving}
          onMove={chat.history.moveToServer}
          onImport={(file) => void onImport(file)}
          onClose={() => setSidebarOpen(false)}
        />
        {sidebarOpen && (
          <button
            type="button"
            className="scrim"
            tabIndex={-1}
            aria-label={t.close}
            onClick={() => setSidebarOpen(false)}
          />
        )}
        <main className="main">
          <header className="topbar">
            <button
              type="button"
              className="icon-button only-mobile"
              onClick={() => setSidebarOpen(true)}
              aria-label={t.menu}
            >
              <Icon name="menu" />
            </button>
            <div className="topbar-title">
              <span className="ellipsis">{active?.title || t.newChat}</span>
              <ModelStatus
                status={status}
                model={model?.id}
                t={t}
                onKey={() => setKeyPrompt(getApiKey() ? "stale" : "required")}
              />
            </div>
            <ContextMeter used={used} size={model?.contextSize} label={t.context} />
            <button
              type="button"
              className="icon-button"
              aria-label={t.knowledge}
              title={t.knowledge}
              onClick={() => setKnowledgeOpen(true)}
              data-testid="knowledge-button"
            >
              <Icon name="book" />
            </button>
            <button
              type="button"
              className="icon-button"
              aria-label={t.toggleTheme}
              title={t.toggleTheme}
              onClick={() => setPrefs((p) => ({ ...p, theme: dark ? "light" : "dark" }))}
            >
              <Icon name={dark ? "sun" : "moon"} />
            </button>
            <button
              type="button"
              className="lang-toggle"
              onClick={() => setPrefs((p) => ({ ...p, lang: lang === "zh" ? "en" : "zh" }))}
              aria-label={t.language}
              title={t.language}
              data-testid="lang-toggle"
            >
              {lang === "zh" ? "EN" : "中"}
            </button>
            <button
              type="button"
              className="icon-button"
              onClick={() => setSettingsOpen(true)}
              aria-label={t.settings}
              title={t.settings}
            >
              <Icon name="settings" />
            </button>
          </header>
          <Transcript key={active?.id ?? "new"} follow={messages} label={t.scrollDown}>
            {unloaded ? (
              <p className="muted loading-chat">{t.loadingChat}</p>
            ) : messages.length === 0 ? (
              <div className="empty">
                <div className="logo big" aria-hidden="true" />
                <h1>{t.emptyTitle}</h1>
                <p className="muted">{t.emptyHint}</p>
                <div className="suggestions">
                  {t.suggestions.map((s) => (
                    <button
                      key={s}
                      type="button"
                      className="suggestion"
                      onClick={() => send(s)}
                      disabled={!!generating}
                    >
                      {s}
                    </button>
                  ))}
                </div>
              </div>
            ) : (
              messages.map((m, i) => (
                <div key={m.id} className="turn">
                  <MessageView
                    message={m}
                    streaming={generating?.messageId === m.id}
                    waiting={generating?.messageId === m.id && generating.waiting}
                    locked={!!generating}
                    isLast={i === messages.length - 1}
                    contextSize={model?.contextSize}
                    onRegenerate={() => active && chat.regenerate(active.id, m.id)}
                    onEdit={(content) => active && chat.editAndResend(active.id, m.id, content)}
                    onStop={chat.stop}
                  />
                  {droppedAt !== undefined && i === droppedAt - 1 && (
                    <div className="divider">
                      <span>{t.notSentDivider}</span>
                    </div>
                  )}
                </div>
              ))
            )}
          </Transcript>
          <div className="composer-wrap">
            <AttachedChips attached={attached} onChange={knowledge.setAttached} />
            <Composer
              generating={!!generating}
              disabled={unloaded}
              onSend={send}
              onStop={chat.stop}
              focusKey={active?.id ?? "new"}
              leading={
                <AttachButton
                  attached={attached}
                  stores={kb}
                  onChange={knowledge.setAttached}
                  onManage={() => setKnowledgeOpen(true)}
                />
              }
            />
          </div>
        </main>
        {settingsOpen && (
          <SettingsPanel
            settings={settings}
            onChange={setSettings}
            theme={prefs.theme}
            onTheme={(theme) => setPrefs((p) => ({ ...p, theme }))}
            lang={lang}
            onLang={(l) => setPrefs((p) => ({ ...p, lang: l }))}
            hasKey={hasKey}
            onChangeKey={() => {
              setSettingsOpen(false);
              setKeyPrompt("change");
            }}
            onForgetKey={() => {
              setSettingsOpen(false);
              setApiKey(undefined);
            }}
            onClose={() => setSettingsOpen(false)}
          />
        )}
        {knowledgeOpen && (
          <KnowledgePanel
            stores={kb}
            attached={attached}
            onToggleAttach={knowledge.toggle}
            onDeleted={knowledge.forget}
            onClose={closeKnowledge}
          />
        )}
        {keyPrompt && (
          <KeyDialog
            reason={keyPrompt}
            onSaved={() => {
              setKeyPrompt(undefined);
              setRetryWithKey(failedForKey.current);
              failedForKey.current = undefined;
            }}
            onClose={() => {
              setKeyPrompt(undefined);
              failedForKey.current = undefined;
            }}
          />
        )}
      </div>
    </I18nContext.Provider>
  );
}
