/**
 * Seeded randomness for the chaos soak, and for tests that pick random cases (testSeed: the seed is in the test's
 * name, so a failure can be replayed). Every decision the soak makes (what to commit, which fault when,
 * whether a request gets a 503) draws from a stream forked from the run's seed by a label, so the schedule of
 * a run is the same for the same seed. What the processes do with it (timings, interleavings) is not, and is
 * not meant to be: the soak is about surviving whatever interleaving happens.
 */
export interface Rng {
  /** Uniform in [0, 1). */
  next(): number;
  /** Integer in [min, max], both included. */
  int(min: number, max: number): number;
  /** Uniform in [min, max). */
  between(min: number, max: number): number;
  chance(p: number): boolean;
  pick<T>(items: readonly T[]): T;
  /** A new array, Fisher-Yates shuffled. */
  shuffle<T>(items: readonly T[]): T[];
  /** Exponentially distributed with this mean (waiting times between random events). */
  exp(mean: number): number;
  /** An independent stream for one concern, derived from this one's seed and the label. */
  fork(label: string): Rng;
}

export function createRng(seed: number): Rng {
  // mulberry32: tiny, fast, good enough for schedules (not for cryptography).
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const rng: Rng = {
    next,
    int: (min, max) => min + Math.floor(next() * (max - min + 1)),
    between: (min, max) => min + next() * (max - min),
    chance: (p) => next() < p,
    pick: (items) => {
      if (items.length === 0) throw new Error('pick from an empty list');
      return items[Math.floor(next() * items.length)]!;
    },
    shuffle: (items) => {
      const out = [...items];
      for (let i = out.length - 1; i > 0; i--) {
        const j = Math.floor(next() * (i + 1));
        [out[i], out[j]] = [out[j]!, out[i]!];
      }
      return out;
    },
    exp: (mean) => -Math.log(1 - next()) * mean,
    fork: (label) => createRng(hash(`${seed}:${label}`)),
  };
  return rng;
}

/** FNV-1a, 32 bits. */
function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * The seed of a test that draws random cases: TEST_SEED when set (to replay a failure), else a fresh one. Put it in
 * the test's name so that every report of a failure carries it.
 */
export function testSeed(env: NodeJS.ProcessEnv = process.env): number {
  const given = env.TEST_SEED;
  if (given !== undefined && given !== '') {
    const seed = Number(given);
    if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff)
      throw new Error(`TEST_SEED must be an integer in [0, 2^32), got ${JSON.stringify(given)}`);
    return seed;
  }
  return Math.floor(Math.random() * 0x100000000);
}
