import { type Dispatch, type SetStateAction, useCallback, useEffect, useMemo, useState } from "react";
import type { AttachedStore, Conversation } from "../types.js";
import { validKnowledge } from "./stored.js";
import type { Store } from "./types.js";
import type { StoresState } from "./useStores.js";

/**
 * The knowledge bases the chat on screen uses: kept with the chat (`Conversation.knowledge`), or, before a
 * new chat's first question, chosen for it here. When the server's store list is known, renamed stores get
 * their new names in every chat and deleted ones are dropped, so a question never names a store that is gone.
 */
export function useChatKnowledge(
  active: Conversation | undefined,
  setConversations: Dispatch<SetStateAction<Conversation[]>>,
  stores: StoresState,
) {
  const [draft, setDraft] = useState<AttachedStore[]>([]);
  const activeId = active?.id;
  const activeKnowledge = active?.knowledge;
  const attached = useMemo(
    () => (activeId ? validKnowledge(activeKnowledge) : draft),
    [activeId, activeKnowledge, draft],
  );

  const setAttached = useCallback(
    (knowledge: AttachedStore[]) => {
      if (!activeId) setDraft(knowledge);
      else setConversations((list) => list.map((c) => (c.id === activeId ? { ...c, knowledge } : c)));
    },
    [activeId, setConversations],
  );

  const toggle = (store: Store) =>
    setAttached(
      attached.some((a) => a.id === store.id)
        ? attached.filter((a) => a.id !== store.id)
        : [...attached, { id: store.id, name: store.name }],
    );

  /** Applies `change` to every chat's knowledge and the draft; `change` returns undefined for "unchanged". */
  const everywhere = useCallback(
    (change: (knowledge: AttachedStore[]) => AttachedStore[] | undefined) => {
      setConversations((list) => {
        let changed = false;
        const next = list.map((c) => {
          if (!Array.isArray(c.knowledge) || c.knowledge.length === 0) return c;
          const knowledge = change(validKnowledge(c.knowledge));
          if (!knowledge) return c;
          changed = true;
          return { ...c, knowledge };
        });
        return changed ? next : list;
      });
      setDraft((d) => change(d) ?? d);
    },
    [setConversations],
  );

  /** A store was deleted: no chat uses it any more. */
  const forget = useCallback(
    (storeId: string) =>
      everywhere((knowledge) =>
        knowledge.some((k) => k.id === storeId) ? knowledge.filter((k) => k.id !== storeId) : undefined,
      ),
    [everywhere],
  );

  // A chat that uses knowledge bases needs their current names: the list is fetched for it.
  const usesKnowledge = attached.length > 0;
  const refresh = stores.refresh;
  useEffect(() => {
    if (usesKnowledge) void refresh();
  }, [usesKnowledge, refresh]);

  const list = stores.stores;
  useEffect(() => {
    if (!list) return;
    const names = new Map(list.map((s) => [s.id, s.name]));
    everywhere((knowledge) => {
      const next = knowledge.flatMap((k) =>
        names.has(k.id) ? [{ id: k.id, name: names.get(k.id) ?? "" }] : [],
      );
      const same = next.length === knowledge.length && next.every((k, i) => k.name === knowledge[i].name);
      return same ? undefined : next;
    });
  }, [list, everywhere]);

  return { attached, setAttached, toggle, forget };
}
