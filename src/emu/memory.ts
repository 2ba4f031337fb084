/**
 * Emulated physical memory: sparse, page-granular, little-endian.
 *
 * A 52-bit physical address space is never materialised: only 4 KiB frames
 * that have been written hold storage; everything else inside a RAM range
 * reads as zero. A read outside every declared RAM range has no backing and
 * is reported as such, which the SMMU turns into an external abort
 * (F_WALK_EABT, F_STE_FETCH, F_CD_FETCH).
 */

import { hex } from './bits';

export const FRAME_SHIFT = 12;
export const FRAME_SIZE = 1 << FRAME_SHIFT;
/** The architecture's largest physical address space. */
export const PA_BITS_MAX = 52;
export const PA_LIMIT = 1n << BigInt(PA_BITS_MAX);

export interface RamRange {
  base: bigint;
  size: bigint;
}

/** Result of a read: the value, or `undefined` for "no memory there". */
export type Read64 = bigint | undefined;

export class PhysicalMemory {
  private readonly frames = new Map<number, BigUint64Array>();
  private readonly ram: RamRange[] | null;
  /** Count of 64-bit reads served, for cost accounting and benchmarks. */
  reads = 0;
  writes = 0;

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
    } else {
      this.ram = null;
    }
  }

  get ramRanges(): readonly RamRange[] | null {
    return this.ram;
  }

  /** Does a physical address have backing memory? */
  isBacked(pa: bigint): boolean {
    if (pa < 0n || pa >= PA_LIMIT) return false;
    if (!this.ram) return true;
    for (const r of this.ram) {
      if (pa >= r.base && pa < r.base + r.size) return true;
    }
    return false;
  }

  /** Read a naturally aligned little-endian 64-bit word. */
  read64(pa: bigint): Read64 {
    if (!this.isBacked(pa)) return undefined;
    this.reads++;
    const frame = this.frames.get(Number(pa >> 12n));
    if (!frame) return 0n;
    return frame[Number((pa & 0xfffn) >> 3n)];
  }

  /** Read without counting (for views, checkers and tests). */
  peek64(pa: bigint): Read64 {
    if (!this.isBacked(pa)) return undefined;
    const frame = this.frames.get(Number(pa >> 12n));
    if (!frame) return 0n;
    return frame[Number((pa & 0xfffn) >> 3n)];
  }

  /** Write a naturally aligned 64-bit word. Returns false when nothing backs `pa`. */
  write64(pa: bigint, value: bigint): boolean {
    if ((pa & 7n) !== 0n) throw new RangeError(`unaligned 64-bit access at ${hex(pa)}`);
    if (!this.isBacked(pa)) return false;
    this.writes++;
    const fn = Number(pa >> 12n);
    let frame = this.frames.get(fn);
    if (!frame) {
      if (value === 0n) return true; // zero pages stay unmaterialised
      frame = new BigUint64Array(FRAME_SIZE / 8);
      this.frames.set(fn, frame);
    }
    frame[Number((pa & 0xfffn) >> 3n)] = BigInt.asUintN(64, value);
    return true;
  }

  /** Zero `size` bytes at `pa` (both 8-byte aligned). Frames that become empty are released. */
  zero(pa: bigint, size: bigint): void {
    let a = pa;
    const end = pa + size;
    while (a < end) {
      const fn = Number(a >> 12n);
      const frameStart = BigInt(fn) << 12n;
      const frameEnd = frameStart + BigInt(FRAME_SIZE);
      const stop = end < frameEnd ? end : frameEnd;
      const frame = this.frames.get(fn);
      if (frame) {
        if (a === frameStart && stop === frameEnd) {
          this.frames.delete(fn);
        } else {
          frame.fill(0n, Number((a - frameStart) >> 3n), Number((stop - frameStart) >> 3n));
        }
      }
      a = stop;
    }
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

/**
 * Allocator of naturally aligned, zeroed blocks of physical memory for
 * translation tables. It hands out memory from one region and can be
 * bounded (the pKVM hypervisor's pool), in which case it can run dry.
 */
export class TableAllocator {
  private next: bigint;
  private readonly free = new Map<bigint, bigint[]>(); // size -> addresses
  private readonly live = new Map<bigint, bigint>(); // addr -> size
  private bytesLive = 0n;

  constructor(
    readonly mem: PhysicalMemory,
    readonly base: bigint,
    readonly limit: bigint,
  ) {
    this.next = base;
  }

  /** Allocate `size` bytes (a power of two) aligned to `size`; null when the region is exhausted. */
  alloc(size: bigint): bigint | null {
    const bucket = this.free.get(size);
    let addr: bigint | undefined = bucket?.pop();
    if (addr === undefined) {
      const aligned = (this.next + size - 1n) & ~(size - 1n);
      if (aligned + size > this.limit) return null;
      this.next = aligned + size;
      addr = aligned;
    }
    this.mem.zero(addr, size);
    this.live.set(addr, size);
    this.bytesLive += size;
    return addr;
  }

  /** Return a block. Throws on a double free or an unknown block: that is an emulator bug. */
  release(addr: bigint): void {
    const size = this.live.get(addr);
    if (size === undefined) throw new Error(`table allocator: free of unallocated ${hex(addr)}`);
    this.live.delete(addr);
    this.bytesLive -= size;
    this.mem.zero(addr, size);
    const bucket = this.free.get(size);
    if (bucket) bucket.push(addr);
    else this.free.set(size, [addr]);
  }

  isLive(addr: bigint): boolean {
    return this.live.has(addr);
  }

  /** Live blocks, as [addr, size] pairs. */
  liveBlocks(): IterableIterator<[bigint, bigint]> {
    return this.live.entries();
  }

  get liveBytes(): bigint {
    return this.bytesLive;
  }
}
