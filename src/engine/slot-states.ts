import { mkdtemp, readdir, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { LlamaContextSequence } from "node-llama-cpp";
import { isAlive } from "../pid.js";
import { commonPrefixLength } from "./prefix.js";

/** A saved KV state: the tokens it holds and the file it is in. */
export interface SavedState {
  readonly tokens: readonly number[];
  readonly file: string;
  readonly bytes: number;
}

const PREFIX = "edgellm-slot-states-";

/**
 * The in-process engine's store of slot states, as llama-server's `--cache-ram` is the other engine's: when a
 * conversation loses its slot to another, its KV state is saved (node-llama-cpp's saveStateToFile, about
 * 12 KiB a token for the 0.5B model), and when it comes back the longest saved prefix of its prompt is loaded
 * into whichever slot it gets instead of being recomputed. States are files in a private folder (0700) under
 * the system's temp folder, kept least recently used first within `maxBytes`, removed on dispose; a folder
 * left behind by a process that was killed is removed by the next one to start.
 */
export class SlotStateStore {
  /** Least recently used first. */
  private readonly entries: SavedState[] = [];
  private bytes = 0;
  private counter = 0;
  /**
   * States being loaded, with whether they were dropped meanwhile: their files are removed once loaded, never
   * before (a failed load whose file is gone would leave llama.cpp's cells for the slot behind while the
   * sequence believes itself empty).
   */
  private readonly loading = new Map<SavedState, { loads: number; dropped: boolean }>();

  private constructor(
    private readonly dir: string,
    private readonly maxBytes: number,
  ) {}

  /** A store within `maxBytes`, or undefined for 0 (off). */
  static async create(maxBytes: number, parent = os.tmpdir()): Promise<SlotStateStore | undefined> {
    if (maxBytes <= 0) return undefined;
    await removeOrphans(parent);
    return new SlotStateStore(await mkdtemp(path.join(parent, `${PREFIX}${process.pid}-`)), maxBytes);
  }

  get size(): { entries: number; bytes: number } {
    return { entries: this.entries.length, bytes: this.bytes };
  }

  /**
   * Saves what `sequence` holds, unless a saved state already holds all of it. A saved state it extends (the
   * same conversation, earlier) is replaced. A failure (a full disk) keeps nothing and is not an error.
   */
  async save(sequence: LlamaContextSequence): Promise<void> {
    const tokens = [...sequence.contextTokens];
    if (tokens.length === 0) return;
    if (this.entries.some((e) => commonPrefixLength(e.tokens, tokens) === tokens.length)) return;
    const file = path.join(this.dir, `${this.counter++}.state`);
    let bytes: number;
    try {
      bytes = (await sequence.saveStateToFile(file)).fileSize;
    } catch {
      await rm(file, { force: true });
      return;
    }
    for (const older of this.entries.filter((e) => commonPrefixLength(e.tokens, tokens) === e.tokens.length))
      this.remove(older);
    this.entries.push({ tokens, file, bytes });
    this.bytes += bytes;
    while (this.bytes > this.maxBytes && this.entries.length > 0) this.remove(this.entries[0]);
  }

  /** The saved state sharing the longest prefix with `tokens`, if that prefix is longer than `than`. */
  find(tokens: readonly number[], than: number): { state: SavedState; shared: number } | undefined {
    let best: { state: SavedState; shared: number } | undefined;
    for (const state of this.entries) {
      const shared = commonPrefixLength(state.tokens, tokens);
      if (shared > than && shared > (best?.shared ?? 0)) best = { state, shared };
    }
    return best;
  }

  /** Loads `state` into `sequence` (replacing what it held); false when that failed and the sequence is empty. */
  async restore(sequence: LlamaContextSequence, state: SavedState): Promise<boolean> {
    const load = this.loading.get(state) ?? { loads: 0, dropped: false };
    load.loads++;
    this.loading.set(state, load);
    try {
      await sequence.loadStateFromFile(state.file, { acceptRisk: true });
    } catch {
      this.remove(state);
      return false;
    } finally {
      if (--load.loads === 0) {
        this.loading.delete(state);
        if (load.dropped) void rm(state.file, { force: true });
      }
    }
    const index = this.entries.indexOf(state);
    if (index !== -1) this.entries.push(...this.entries.splice(index, 1));
    return true;
  }

  async dispose(): Promise<void> {
    this.entries.length = 0;
    this.bytes = 0;
    await rm(this.dir, { recursive: true, force: true });
  }

  private remove(state: SavedState): void {
    const index = this.entries.indexOf(state);
    if (index === -1) return;
    this.entries.splice(index, 1);
    this.bytes -= state.bytes;
    const load = this.loading.get(state);
    if (load) load.dropped = true;
    else void rm(state.file, { force: true });
  }
}

/** Removes the folders of edgellm processes that no longer run (killed before they could remove their own). */
async function removeOrphans(parent: string): Promise<void> {
  let names: string[];
  try {
    names = await readdir(parent);
  } catch {
    return;
  }
  for (const name of names) {
    if (!name.startsWith(PREFIX)) continue;
    const pid = Number(name.slice(PREFIX.length).split("-")[0]);
    if (!pid || pid === process.pid || isAlive(pid)) continue;
    await rm(path.join(parent, name), { recursive: true, force: true }).catch(() => {});
  }
}
