/**
 * The IOTLB: cached translations tagged as the SMMUv3 architecture allows.
 *
 * Entries live in contexts, one per tag: StreamWorld, VMID (0 when stage 2 is
 * not implemented), ASID (or GLOBAL for nG = 0 entries, which match any ASID,
 * or S2 for stage-2-only entries keyed by IPA), and the TTB half. Inside a
 * context, entries are kept per page size and keyed by page number, so a
 * lookup is one map probe per size in use. Combined nested entries keep the
 * stage-1 and stage-2 permissions apart, so a permission fault on a hit is
 * attributed to the right stage.
 *
 * Invalidation removes exactly what each command's scope covers; the command
 * decoding lives in smmu.ts.
 */

export const WORLD_NS_EL1 = 0;
export const WORLD_EL2 = 1;
export const WORLD_EL2_E2H = 2;
export const WORLD_NAMES = ['NS-EL1', 'EL2', 'EL2-E2H'] as const;

/** ASID tag of global (nG = 0) entries. */
export const ASID_GLOBAL = -1;
/** ASID tag of stage-2-only entries (keyed by IPA). */
export const ASID_S2 = -2;

export const KIND_S1 = 1;
export const KIND_S2 = 2;
export const KIND_NESTED = 3;

export class TlbEntry {
  constructor(
    readonly kind: number,
    /** Input page base: VA bits [51:0] (the TTB half is in the context), or the IPA for S2-only. */
    readonly inBase: number,
    readonly size: number,
    /** Output (physical) base. */
    readonly paBase: number,
    /** Intermediate base (nested), for stage-2 faults reported on a hit. */
    readonly ipaBase: number,
    readonly s1Ap: number,
    readonly s1Pxn: boolean,
    readonly s1Uxn: boolean,
    readonly nG: boolean,
    readonly s2Ap: number,
    readonly s2Xn: number,
    /** Leaf levels, for views (-1 when the stage is absent). */
    readonly s1Level: number,
    readonly s2Level: number,
    readonly ctx: TlbContext,
  ) {}
  live = true;
  hits = 0;
}

export class TlbContext {
  readonly sizes: number[] = [];
  readonly maps: Map<number, TlbEntry>[] = [];
  count = 0;
  constructor(
    readonly key: string,
    readonly world: number,
    readonly vmid: number,
    readonly asid: number,
    readonly sel: number,
  ) {}

  lookup(a: number): TlbEntry | undefined {
    const sizes = this.sizes;
    for (let i = 0; i < sizes.length; i++) {
      const e = this.maps[i].get(Math.floor(a / sizes[i]));
      if (e !== undefined) return e;
    }
    return undefined;
  }

  mapFor(size: number): Map<number, TlbEntry> {
    const i = this.sizes.indexOf(size);
    if (i >= 0) return this.maps[i];
    const m = new Map<number, TlbEntry>();
    // Keep smaller sizes first: a smaller entry is the more recent split.
    let j = 0;
    while (j < this.sizes.length && this.sizes[j] < size) j++;
    this.sizes.splice(j, 0, size);
    this.maps.splice(j, 0, m);
    return m;
  }
}

export interface TlbStats {
  hits: number;
  misses: number;
  inserts: number;
  evictions: number;
  invalidated: number;
}

export class Iotlb {
  private readonly contexts = new Map<string, TlbContext>();
  /** Insertion-ordered ring of entries for FIFO replacement. */
  private ring: TlbEntry[] = [];
  private ringHead = 0;
  size = 0;
  readonly stats: TlbStats = { hits: 0, misses: 0, inserts: 0, evictions: 0, invalidated: 0 };

  constructor(readonly capacity = 4096) {}

  context(world: number, vmid: number, asid: number, sel: number): TlbContext {
    const key = `${world}:${vmid}:${asid}:${sel}`;
    let c = this.contexts.get(key);
    if (!c) {
      c = new TlbContext(key, world, vmid, asid, sel);
      this.contexts.set(key, c);
    }
    return c;
  }

  insert(e: TlbEntry): void {
    const m = e.ctx.mapFor(e.size);
    const k = Math.floor(e.inBase / e.size);
    const old = m.get(k);
    if (old) this.kill(old, m, k);
    m.set(k, e);
    e.ctx.count++;
    this.size++;
    this.stats.inserts++;
    this.ring.push(e);
    while (this.size > this.capacity) this.evictOne();
    if (this.ring.length > this.capacity * 4) this.compactRing();
  }

  private evictOne(): void {
    while (this.ringHead < this.ring.length) {
      const e = this.ring[this.ringHead++];
      if (!e.live) continue;
      this.remove(e);
      this.stats.evictions++;
      return;
    }
  }

  private compactRing(): void {
    this.ring = this.ring.slice(this.ringHead).filter((e) => e.live);
    this.ringHead = 0;
  }

  private kill(e: TlbEntry, m: Map<number, TlbEntry>, k: number): void {
    m.delete(k);
    e.live = false;
    e.ctx.count--;
    this.size--;
  }

  /** Remove one entry. */
  remove(e: TlbEntry): void {
    if (!e.live) return;
    const m = e.ctx.mapFor(e.size);
    this.kill(e, m, Math.floor(e.inBase / e.size));
  }

  private dropContext(c: TlbContext): void {
    for (const m of c.maps) {
      for (const e of m.values()) {
        e.live = false;
        this.size--;
        this.stats.invalidated++;
      }
      m.clear();
    }
    c.count = 0;
  }

  /** Remove entries of a context overlapping [start, start + len) (len null: the entries containing start). */
  private dropRange(c: TlbContext, start: number, len: number | null): void {
    for (let i = 0; i < c.sizes.length; i++) {
      const size = c.sizes[i];
      const m = c.maps[i];
      if (m.size === 0) continue;
      const first = Math.floor(start / size);
      const last = len === null ? first : Math.floor((start + len - 1) / size);
      if (last - first + 1 <= m.size) {
        for (let k = first; k <= last; k++) {
          const e = m.get(k);
          if (e) {
            this.kill(e, m, k);
            this.stats.invalidated++;
          }
        }
      } else {
        for (const [k, e] of m) {
          if (k >= first && k <= last) {
            this.kill(e, m, k);
            this.stats.invalidated++;
          }
        }
      }
    }
  }

  private each(pred: (c: TlbContext) => boolean, fn: (c: TlbContext) => void): void {
    for (const c of this.contexts.values()) if (c.count > 0 && pred(c)) fn(c);
  }

  invalidateAll(): void {
    this.each(() => true, (c) => this.dropContext(c));
  }

  /** Every entry of these worlds (TLBI_NSNH_ALL: NS-EL1; TLBI_EL2_ALL: EL2 and EL2-E2H). */
  invalidateWorlds(worlds: readonly number[]): void {
    this.each((c) => worlds.includes(c.world), (c) => this.dropContext(c));
  }

  /** TLBI_NH_ALL: all stage-1 (and combined) entries of a VMID in the NS-EL1 world; stage-2-only entries stay. */
  invalidateS1Vmid(vmid: number): void {
    this.each((c) => c.world === WORLD_NS_EL1 && c.vmid === vmid && c.asid !== ASID_S2, (c) => this.dropContext(c));
  }

  /** TLBI_S12_VMALL: everything tagged with a VMID. */
  invalidateVmid(vmid: number): void {
    this.each((c) => c.world === WORLD_NS_EL1 && c.vmid === vmid, (c) => this.dropContext(c));
  }

  /** TLBI_NH_ASID / TLBI_EL2_ASID: non-global entries of one ASID (global entries are spared). */
  invalidateAsid(world: number, vmid: number, asid: number): void {
    this.each((c) => c.world === world && c.vmid === vmid && c.asid === asid, (c) => this.dropContext(c));
  }

  /**
   * TLBI_NH_VA / NH_VAA / EL2_VA / EL2_VAA: entries translating addresses in
   * [start, start+len) for one ASID (or any, with asid null) and global
   * entries, in one TTB half (VA[55]). Addresses are VA bits [51:0].
   */
  invalidateVa(world: number, vmid: number | null, asid: number | null, sel: number, start: number, len: number | null): void {
    this.each(
      (c) =>
        c.world === world && c.sel === sel && (vmid === null || c.vmid === vmid) && c.asid !== ASID_S2 && (asid === null || c.asid === asid || c.asid === ASID_GLOBAL),
      (c) => this.dropRange(c, start, len),
    );
  }

  /** TLBI_S2_IPA: stage-2-only entries for IPAs in range. Combined entries need a later NH_ALL / S12_VMALL. */
  invalidateIpa(vmid: number, start: number, len: number | null): void {
    this.each((c) => c.world === WORLD_NS_EL1 && c.vmid === vmid && c.asid === ASID_S2, (c) => this.dropRange(c, start, len));
  }

  /** Live entries, for views and tests. */
  entries(): TlbEntry[] {
    const out: TlbEntry[] = [];
    for (const c of this.contexts.values()) for (const m of c.maps) for (const e of m.values()) out.push(e);
    return out;
  }
}
