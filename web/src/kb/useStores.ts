import { useCallback, useEffect, useRef, useState } from "react";
import { ApiError } from "../api.js";
import type { AnswerError } from "../types.js";
import { listStores } from "./api.js";
import type { Store } from "./types.js";

export interface StoresState {
  /** Undefined until first loaded (the page asks only when the panel or the chat's knowledge menu needs it). */
  stores: Store[] | undefined;
  error: AnswerError | undefined;
  loading: boolean;
  refresh(): Promise<void>;
  /** Applies a change the page made (created, renamed, deleted) without waiting for the next list. */
  update(change: (stores: Store[]) => Store[]): void;
}

/** The list of vector stores, shared by the knowledge panel and the chat's knowledge menu. */
export function useStores(): StoresState {
  const [stores, setStores] = useState<Store[]>();
  const [error, setError] = useState<AnswerError>();
  const [loading, setLoading] = useState(false);
  const seq = useRef(0);
  const loaded = useRef(false);
  const refresh = useCallback(async () => {
    const mine = ++seq.current;
    setLoading(true);
    try {
      const list = await listStores();
      if (mine !== seq.current) return; // a newer refresh (or a local change) won
      loaded.current = true;
      setStores(list.sort((a, b) => b.createdAt - a.createdAt));
      setError(undefined);
    } catch (failure) {
      if (mine !== seq.current) return;
      setError(failure instanceof ApiError ? failure.error : { kind: "server", message: String(failure) });
    } finally {
      if (mine === seq.current) setLoading(false);
    }
  }, []);
  const update = useCallback(
    (change: (stores: Store[]) => Store[]) => {
      // Only a whole list is ever kept (App drops a chat's knowledge bases the list does not have).
      if (!loaded.current) return void refresh();
      seq.current++; // a list already on its way predates this change
      setLoading(false);
      setStores((list) => (list ? change(list) : list));
    },
    [refresh],
  );
  return { stores, error, loading, refresh, update };
}

/**
 * Calls `tick` every `ms` while `active`, one call at a time (the next waits for the previous to settle),
 * and stops when `active` turns false or the component unmounts: the panel polls only while it is open.
 */
export function usePoll(tick: () => Promise<unknown>, active: boolean, ms = 1000): void {
  const latest = useRef(tick);
  latest.current = tick;
  useEffect(() => {
    if (!active) return;
    let stopped = false;
    let timer = 0;
    const loop = () => {
      timer = window.setTimeout(async () => {
        await latest.current().catch(() => {});
        if (!stopped) loop();
      }, ms);
    };
    loop();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [active, ms]);
}
