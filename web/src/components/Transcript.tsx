import { type ReactNode, useCallback, useLayoutEffect, useRef, useState } from "react";
import { Icon } from "./icons.js";

/** The scrolling message list; follows new text while the reader is at the bottom, never yanks them back. */
export function Transcript({
  children,
  follow,
  label,
}: {
  children: ReactNode;
  follow: unknown;
  label: string;
}) {
  const ref = useRef<HTMLDivElement>(null);
  const [atBottom, setAtBottom] = useState(true);
  const stick = useRef(true);
  const toBottom = useCallback(() => {
    const el = ref.current;
    if (el) el.scrollTop = el.scrollHeight;
  }, []);
  // biome-ignore lint/correctness/useExhaustiveDependencies: `follow` changes with every streamed token.
  useLayoutEffect(() => {
    if (stick.current) toBottom();
  }, [follow, toBottom]);
  return (
    <div
      className="transcript"
      ref={ref}
      onScroll={(e) => {
        const el = e.currentTarget;
        stick.current = el.scrollHeight - el.scrollTop - el.clientHeight < 48;
        setAtBottom(stick.current);
      }}
    >
      <div className="transcript-inner">{children}</div>
      {!atBottom && (
        <button
          type="button"
          className="scroll-down"
          aria-label={label}
          onClick={() => {
            stick.current = true;
            setAtBottom(true);
            ref.current?.scrollTo({ top: ref.current.scrollHeight, behavior: "smooth" });
          }}
        >
          <Icon name="down" />
        </button>
      )}
    </div>
  );
}
