/**
 * Replica choice for an upstream with several base URLs: least outstanding requests, except that a
 * conversation sticks to the replica its key hashes to (rendezvous hashing), which holds its prefix
 * cache, as long as that replica is not much busier than the least busy one.
 */

export interface ReplicaLoad {
  readonly index: number;
  readonly outstanding: number;
  readonly available: boolean;
}

/** How many more requests in flight than the least busy replica affinity may accept. Default 2. */
export const AFFINITY_SLACK = 2;

/**
 * The replica to use, or undefined if none is available. Replicas in `tried` are skipped while
 * others remain. `turn` breaks ties round-robin.
 */
export function pickReplica(
  replicas: readonly ReplicaLoad[],
  key: string,
  tried: ReadonlySet<number>,
  turn: number,
  slack = AFFINITY_SLACK,
): { index: number; affinity: boolean } | undefined {
  const available = replicas.filter((r) => r.available);
  const fresh = available.filter((r) => !tried.has(r.index));
  const candidates = fresh.length > 0 ? fresh : available;
  if (candidates.length === 0) return undefined;
  const least = Math.min(...candidates.map((r) => r.outstanding));
  if (candidates.length > 1 && key) {
    const keyHash = fnv1a(key);
    let preferred = candidates[0];
    let best = -1;
    for (const r of candidates) {
      const weight = mix32(keyHash ^ Math.imul(r.index + 1, 0x9e3779b9));
      if (weight > best) {
        best = weight;
        preferred = r;
      }
    }
    if (preferred.outstanding <= least + slack) return { index: preferred.index, affinity: true };
  }
  const idle = candidates.filter((r) => r.outstanding === least);
  return { index: idle[turn % idle.length].index, affinity: false };
}

/** 32-bit FNV-1a: fast, and spreads similar strings well enough for picking among a few replicas. */
export function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/** MurmurHash3's finalizer: every input bit affects every output bit, as rendezvous hashing needs. */
function mix32(h: number): number {
  let x = h >>> 0;
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}
