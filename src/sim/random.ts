/**
 * Seeded randomness for the demo: it must give the same run for the same seed on every machine,
 * so nothing in it may draw from Math.random or crypto.
 */

/** The largest seed: the generator keeps 32 bits of state, so a larger seed would wrap around. */
export const MAX_SEED = 2 ** 32 - 1;

/**
 * A small seeded PRNG (mulberry32): the same seed (0 to {@link MAX_SEED}) gives the same numbers
 * on every machine. Not for anything that must be unpredictable.
 */
export class Random {
  #state: number;

  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Standard normal (Box-Muller). */
  normal(): number {
    const u = 1 - this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.next());
  }

  /** An integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  /** A new generator seeded from this one: a separate stream for one part of a simulation. */
  fork(): Random {
    return new Random((this.next() * 2 ** 32) >>> 0);
  }

  /** A version-4 UUID in lower case, drawn from this generator. */
  uuid(): string {
    let hex = "";
    for (let i = 0; i < 4; i++)
      hex += ((this.next() * 2 ** 32) >>> 0).toString(16).padStart(8, "0");
    const variant = ((Number.parseInt(hex[16] as string, 16) & 0x3) | 0x8).toString(16);
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
  }
}
