import { type FormEvent, useEffect, useRef, useState } from "react";
import { checkKey } from "../api.js";
import { isValidKey, setApiKey } from "../apiKey.js";
import { useStrings } from "../i18n.js";

export interface KeyDialogProps {
  /** Why it opened: no key was sent, the saved key was refused, or the user asked (settings). */
  reason: "required" | "stale" | "change";
  /** The key was accepted (or could not be checked) and is saved. */
  onSaved(): void;
  onClose(): void;
}

/**
 * Asks for the server's API key. A native modal <dialog>: focus moves into it and stays there, the page
 * behind is inert, Escape closes it. The input is a password field and uncontrolled, so the key never
 * becomes text or an attribute in the DOM (React mirrors a controlled input's value into `value=`).
 * The key is checked against the server before it is saved.
 */
export function KeyDialog({ reason, onSaved, onClose }: KeyDialogProps) {
  const t = useStrings();
  const dialog = useRef<HTMLDialogElement>(null);
  const input = useRef<HTMLInputElement>(null);
  const [problem, setProblem] = useState<"invalid" | "rejected">();
  const [checking, setChecking] = useState(false);

  useEffect(() => {
    // No close() in a cleanup: StrictMode runs effects twice, and the close event would dismiss it.
    if (dialog.current && !dialog.current.open) dialog.current.showModal();
  }, []);

  const submit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const key = input.current?.value.trim() ?? "";
    if (!isValidKey(key)) {
      setProblem("invalid");
      input.current?.focus();
      return;
    }
    setChecking(true);
    const verdict = await checkKey(key);
    setChecking(false);
    if (verdict === "rejected") {
      setProblem("rejected");
      input.current?.select();
      return;
    }
    setApiKey(key);
    if (input.current) input.current.value = "";
    onSaved();
  };

  const notice = problem
    ? { invalid: t.keyInvalid, rejected: t.keyRejected }[problem]
    : reason === "stale"
      ? t.keyStale
      : undefined;
  return (
    <dialog
      ref={dialog}
      className="key-dialog"
      aria-labelledby="key-title"
      aria-describedby="key-intro"
      onClose={onClose}
    >
      <form onSubmit={(event) => void submit(event)}>
        <h2 id="key-title">{reason === "change" ? t.apiKey : t.keyDialogTitle}</h2>
        <p id="key-intro" className="small">
          {t.keyDialogIntro}
        </p>
        <label className="field">
          {t.apiKey}
          <input
            ref={input}
            type="password"
            name="api-key"
            autoComplete="off"
            autoCapitalize="off"
            spellCheck={false}
            aria-invalid={problem !== undefined}
            aria-describedby={notice ? "key-notice" : undefined}
            onInput={() => setProblem(undefined)}
          />
        </label>
        {notice && (
          <p id="key-notice" className="key-notice small" role="alert">
            {notice}
          </p>
        )}
        <p className="muted small">{t.keyStoredHint}</p>
        <div className="row end">
          <button type="button" className="ghost" onClick={onClose}>
            {t.cancel}
          </button>
          <button type="submit" className="primary" disabled={checking}>
            {checking ? t.checking : t.saveKey}
          </button>
        </div>
      </form>
    </dialog>
  );
}
