/**
 * Emulated physical memory: sparse, page-granular, little-endian.
 *
 * A 52-bit physical address space is never materialised: only 4 KiB frames
 * that have been written hold storage; everything else inside a RAM range
 * reads as zero. A read outside every declared RAM range has no backing and
 * is reported as such, which the SMMU turns into an external abort
 * (F_WALK_EABT, F_STE_FETCH, F_CD_FETCH).
 *
 * Hot paths (the walker, io-pgtable) use the number API: physical addresses
 * are JS numbers (exact below 2^53, and a physical address has at most 52
 * bits) and 64-bit words travel as two unsigned 32-bit halves, left in
 * `lo` / `hi` by `read()`. The bigint API wraps it for everything else.
 */

import { hex } from './bits';

export const FRAME_SHIFT = 12;
export const FRAME_SIZE = 1 << FRAME_SHIFT;
const FRAME_WORDS = FRAME_SIZE / 4;
/** The architecture's largest physical address space. */
export const PA_BITS_MAX = 52;
export const PA_LIMIT = 1n << BigInt(PA_BITS_MAX);
const PA_LIMIT_N = 2 ** PA_BITS_MAX;
const TWO32 = 4294967296;

export const CACHE_SIZE = 512; // direct-mapped frame lookup cache (power of two)
const ZERO_FRAME = new Uint32Array(FRAME_WORDS);

export interface RamRange {
  base: bigint;
  size: bigint;
}

/** Result of a bigint read: the value, or `undefined` for "no memory there". */
export type Read64 = bigint | undefined;

export class PhysicalMemory {
  private readonly frames = new Map<number, Uint32Array>();
  private readonly ram: RamRange[] | null;
  private readonly ramBase: Float64Array;
  private readonly ramEnd: Float64Array;
  /**
   * Direct-mapped frame lookup cache: slot = frame number & (CACHE_SIZE - 1).
   * Public for the walker's inlined read path (see walk.ts); treat as read-only.
   */
  readonly cacheKey = new Float64Array(CACHE_SIZE).fill(-1);
  readonly cacheFrame: Uint32Array[] = new Array<Uint32Array>(CACHE_SIZE).fill(ZERO_FRAME);
  /** Low / high 32 bits of the word read by the last successful `read()`. */
  lo = 0;
  hi = 0;
  /** True when every physical address exists (no RAM ranges declared). */
  readonly anyPa: boolean;

  /**
   * @param ram the physical ranges that exist. `null` (default) means the
   *   whole 52-bit space exists and unwritten memory reads as zero.
   */
  constructor(ram: RamRange[] | null = null) {
    if (ram) {
      for (const r of ram) {
        if (r.size <= 0n || r.base < 0n || r.base + r.size > PA_LIMIT) {
          throw new RangeError(`RAM range ${hex(r.base)}+${hex(r.size)} is outside the 52-bit physical space`);
        }
      }
      this.ram = [...ram].sort((a, b) => (a.base < b.base ? -1 : a.base > b.base ? 1 : 0));
      this.ramBase = Float64Array.from(this.ram, (r) => Number(r.base));
      this.ramEnd = Float64Array.from(this.ram, (r) => Number(r.base + r.size));
    } else {
      this.ram = null;
      this.ramBase = new Float64Array(0);
      this.ramEnd = new Float64Array(0);
    }
    this.anyPa = this.ram === null;
  }

  get ramRanges(): readonly RamRange[] | null {
    return this.ram;
  }

  /** Does a physical address (number) have backing memory? */
  backed(pa: number): boolean {
    if (!(pa >= 0 && pa < PA_LIMIT_N)) return false;
    const n = this.ramBase.length;
    if (n === 0) return this.ram === null;
    for (let i = 0; i < n; i++) if (pa >= this.ramBase[i] && pa < this.ramEnd[i]) return true;
    return false;
  }

  isBacked(pa: bigint): boolean {
    return pa >= 0n && pa < PA_LIMIT && this.backed(Number(pa));
  }

  private frameFor(fn: number): Uint32Array {
    const slot = fn & (CACHE_SIZE - 1);
    if (this.cacheKey[slot] === fn) return this.cacheFrame[slot];
    return this.frameMiss(fn);
  }

  /** Look up a frame that missed the cache, and cache it. */
  frameMiss(fn: number): Uint32Array {
    const f = this.frames.get(fn) ?? ZERO_FRAME;
    const slot = fn & (CACHE_SIZE - 1);
    this.cacheKey[slot] = fn;
    this.cacheFrame[slot] = f;
    return f;
  }

  /**
   * Read the aligned 64-bit word at `pa` into `lo`/`hi`. Returns false when
   * nothing backs `pa` (an external abort).
   */
  read(pa: number): boolean {
    if (this.anyPa ? !(pa < PA_LIMIT_N) : !this.backed(pa)) return false;
    const fn = Math.floor(pa / FRAME_SIZE);
    const f = this.frameFor(fn);
    const w = (pa - fn * FRAME_SIZE) >>> 2;
    this.lo = f[w];
    this.hi = f[w + 1];
    return true;
  }

  /** Same as read(); named for accesses that are not the modelled hardware's (views, checkers, io-pgtable). */
  peek(pa: number): boolean {
    return this.read(pa);
  }

  /** Write an aligned 64-bit word given as halves. Returns false when nothing backs `pa`. */
  write(pa: number, lo: number, hi: number): boolean {
    if (pa % 8 !== 0) throw new RangeError(`unaligned 64-bit access at 0x${pa.toString(16)}`);
    if (!this.backed(pa)) return false;
    const fn = Math.floor(pa / FRAME_SIZE);
    let f = this.frames.get(fn);
    if (!f) {
      if (lo === 0 && hi === 0) return true; // zero pages stay unmaterialised
      f = new Uint32Array(FRAME_WORDS);
      this.frames.set(fn, f);
      const slot = fn & (CACHE_SIZE - 1);
      this.cacheKey[slot] = fn;
      this.cacheFrame[slot] = f;
    }
    const w = (pa - fn * FRAME_SIZE) >>> 2;
    f[w] = lo;
    f[w + 1] = hi;
    return true;
  }

  /** Read a 64-bit word (bigint); undefined when nothing backs `pa`. */
  read64(pa: bigint): Read64 {
    if (pa < 0n || pa >= PA_LIMIT || !this.read(Number(pa))) return undefined;
    return (BigInt(this.hi) << 32n) | BigInt(this.lo);
  }

  /** Read a 64-bit word (bigint) on behalf of software or a view. */
  peek64(pa: bigint): Read64 {
    if (pa < 0n || pa >= PA_LIMIT || !this.peek(Number(pa))) return undefined;
    return (BigInt(this.hi) << 32n) | BigInt(this.lo);
  }

  /** Write a 64-bit word (bigint). Returns false when nothing backs `pa`. */
  write64(pa: bigint, value: bigint): boolean {
    if ((pa & 7n) !== 0n) throw new RangeError(`unaligned 64-bit access at ${hex(pa)}`);
    if (pa < 0n || pa >= PA_LIMIT) return false;
    const v = BigInt.asUintN(64, value);
    return this.write(Number(pa), Number(v & 0xffffffffn), Number(v >> 32n));
  }

  /** Zero `size` bytes at `pa` (8-byte aligned numbers). Whole frames are released. */
  zeroRange(pa: number, size: number): void {
    let a = pa;
    const end = pa + size;
    while (a < end) {
      const fn = Math.floor(a / FRAME_SIZE);
      const frameStart = fn * FRAME_SIZE;
      const frameEnd = frameStart + FRAME_SIZE;
      const stop = end < frameEnd ? end : frameEnd;
      const f = this.frames.get(fn);
      if (f) {
        if (a === frameStart && stop === frameEnd) {
          this.frames.delete(fn);
          const slot = fn & (CACHE_SIZE - 1);
          if (this.cacheKey[slot] === fn) this.cacheFrame[slot] = ZERO_FRAME;
        } else {
          f.fill(0, (a - frameStart) >>> 2, (stop - frameStart) >>> 2);
        }
      }
      a = stop;
    }
  }

  zero(pa: bigint, size: bigint): void {
    this.zeroRange(Number(pa), Number(size));
  }

  /** Number of materialised 4 KiB frames (memory footprint). */
  get residentFrames(): number {
    return this.frames.size;
  }

  /** Deep copy (used to record scenario snapshots). */
  clone(): PhysicalMemory {
    const m = new PhysicalMemory(this.ram ? this.ram.map((r) => ({ ...r })) : null);
    for (const [k, v] of this.frames) m.frames.set(k, v.slice());
    return m;
  }
}

/** Compose two 32-bit halves into a bigint. */
export function u64(lo: number, hi: number): bigint {
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}

/** Compose halves into a number when the value is below 2^53 (addresses). */
export function u53(lo: number, hi: number): number {
  return (hi >>> 0) * TWO32 + (lo >>> 0);
}

/**
 * Allocator of naturally aligned, zeroed blocks of physical memory for
 * translation tables. It hands out memory from one region and can be
 * bounded (the pKVM hypervisor's pool), in which case it can run dry.
 */
export class TableAllocator {
  private next: number;
  private readonly freeLists = new Map<number, number[]>(); // size -> addresses
  private readonly live = new Map<number, number>(); // addr -> size
  private bytesLive = 0;
  readonly base: bigint;
  private limitB: bigint;
  private limitN: number;

  constructor(
    readonly mem: PhysicalMemory,
    base: bigint,
    limit: bigint,
  ) {
    this.base = base;
    this.limitB = limit;
    this.next = Number(base);
    this.limitN = Number(limit);
  }

  /** End of the region (exclusive). */
  get limit(): bigint {
    return this.limitB;
  }

  /** Extend the region (a pool the host tops up with pages donated right after it). */
  grow(newLimit: bigint): void {
    if (newLimit < this.limitB) throw new RangeError('a table pool cannot shrink');
    this.limitB = newLimit;
    this.limitN = Number(newLimit);
  }

  /** Bytes not yet handed out (free lists included). */
  get freeBytes(): bigint {
    let f = BigInt(this.limitN - this.next);
    for (const [size, list] of this.freeLists) f += BigInt(size * list.length);
    return f;
  }

  /** Allocate `size` bytes (a power of two) aligned to `size`; null when the region is exhausted. */
  allocN(size: number): number | null {
    const bucket = this.freeLists.get(size);
    let addr = bucket?.pop();
    if (addr === undefined) {
      const aligned = Math.ceil(this.next / size) * size;
      if (aligned + size > this.limitN) return null;
      this.next = aligned + size;
      addr = aligned;
    }
    this.mem.zeroRange(addr, size);
    this.live.set(addr, size);
    this.bytesLive += size;
    return addr;
  }

  alloc(size: bigint): bigint | null {
    const a = this.allocN(Number(size));
    return a === null ? null : BigInt(a);
  }

  /** Return a block. Throws on a double free or an unknown block: that is an emulator bug. */
  releaseN(addr: number): void {
    const size = this.live.get(addr);
    if (size === undefined) throw new Error(`table allocator: free of unallocated 0x${addr.toString(16)}`);
    this.live.delete(addr);
    this.bytesLive -= size;
    this.mem.zeroRange(addr, size);
    const bucket = this.freeLists.get(size);
    if (bucket) bucket.push(addr);
    else this.freeLists.set(size, [addr]);
  }

  release(addr: bigint): void {
    this.releaseN(Number(addr));
  }

  isLive(addr: bigint): boolean {
    return this.live.has(Number(addr));
  }

  /** Live blocks, as [addr, size] pairs. */
  *liveBlocks(): IterableIterator<[bigint, bigint]> {
    for (const [a, s] of this.live) yield [BigInt(a), BigInt(s)];
  }

  get liveBytes(): bigint {
    return BigInt(this.bytesLive);
  }
}
