/**
 * The invariant checker that tests and the UI both use. It trusts no
 * bookkeeping: it reads the real SMMU's stream table, STEs, CDs and
 * translation tables from memory, as the hardware would, and compares what
 * devices can reach with page ownership.
 *
 * - No device can reach a page the host does not own (host OWNED or
 *   SHARED_*): every leaf reachable from a live STE is checked.
 * - Every DMA refcount equals the number of IOMMU mappings of that page
 *   (given the io-pgtables the hypervisor maintains).
 * - No table page reachable from a live STE has been freed back to a pool.
 */

import type { Granule } from '../descriptor';
import { bitsPerLevel, descAddress, levelShift } from '../descriptor';
import type { PhysicalMemory, TableAllocator } from '../memory';
import type { ArmLpaeIoPgtable } from '../iopgtable';
import { type S1WalkParams, type S2WalkParams, blockAllowed, effectivePaBits, s1StartLevel, s2StartLevel } from '../walk';
import { decodeCd, s1ParamsFromCd, validateCd } from '../smmu/cd';
import type { Smmu } from '../smmu/smmu';
import { decodeL1std, decodeSte, s2ParamsFromSte, validateSte } from '../smmu/ste';
import { strtabCfg } from '../smmu/registers';
import type { PageOwnership } from './ownership';

export interface Violation {
  kind: 'reach' | 'refcount' | 'freed-table' | 'bypass';
  message: string;
  sid?: number;
  pa?: bigint;
}

export interface Leaf {
  ia: bigint;
  oa: bigint;
  size: bigint;
}

const PAGE = 4096n;

/** Every leaf of a translation table in memory, and every table page visited. */
export function enumerateTable(
  mem: PhysicalMemory,
  g: Granule,
  start: number,
  startEntries: bigint,
  base: bigint,
  paBits: number,
  tables: bigint[] = [],
): Leaf[] {
  const out: Leaf[] = [];
  const lpa = g === 65536 && paBits === 52;
  const gran = 1n << BigInt(levelShift(g, 3));
  const visit = (table: bigint, level: number, entries: bigint, iaBase: bigint): void => {
    tables.push(table);
    const bs = 1n << BigInt(levelShift(g, level));
    for (let i = 0n; i < entries; i++) {
      const d = mem.peek64(table + i * 8n);
      if (d === undefined || (d & 1n) === 0n) continue;
      const ia = iaBase + i * bs;
      if (level < 3 && (d & 2n) === 2n) {
        visit(descAddress(d, g, gran, lpa), level + 1, 1n << BigInt(bitsPerLevel(g)), ia);
      } else if ((level === 3 && (d & 2n) === 2n) || (level < 3 && blockAllowed(g, level, paBits))) {
        out.push({ ia, oa: descAddress(d, g, bs, lpa), size: bs });
      }
    }
  };
  visit(base & ~(startEntries * 8n - 1n), start, startEntries, 0n);
  return out;
}

export function s2Leaves(mem: PhysicalMemory, p: S2WalkParams, tables?: bigint[]): Leaf[] {
  const start = s2StartLevel(p.sl0, p.granule) ?? 3;
  const entries = 1n << BigInt(Math.max(0, 64 - p.tsz - levelShift(p.granule, start)));
  return enumerateTable(mem, p.granule, start, entries, p.ttb, effectivePaBits(p.ps, p.oasBits, p.granule), tables);
}

export function s1Leaves(mem: PhysicalMemory, p: S1WalkParams, tables?: bigint[]): Leaf[] {
  const out: Leaf[] = [];
  for (const tt of p.tt) {
    if (tt.epd) continue;
    const ia = 64 - tt.tsz;
    const start = s1StartLevel(ia, tt.granule);
    if (start < 0 || start > 3) continue;
    const entries = 1n << BigInt(ia - levelShift(tt.granule, start));
    out.push(...enumerateTable(mem, tt.granule, start, entries, tt.ttb, effectivePaBits(p.ips, p.oasBits, tt.granule), tables));
  }
  return out;
}

/** Valid STEs of the real SMMU's stream table, read from memory. */
export function liveStes(smmu: Smmu): Array<{ sid: number; dwords: bigint[] }> {
  const mem = smmu.mem;
  const cfg = strtabCfg(smmu.strtabBaseCfg);
  const log2 = Math.min(cfg.log2size, smmu.f.sidsize);
  const base = smmu.strtabBase & 0x000f_ffff_ffff_ffc0n;
  const out: Array<{ sid: number; dwords: bigint[] }> = [];
  const read = (addr: bigint, sid: number): void => {
    const dw: bigint[] = [];
    for (let i = 0; i < 8; i++) dw.push(mem.peek64(addr + BigInt(i * 8)) ?? 0n);
    if ((dw[0] & 1n) === 1n) out.push({ sid, dwords: dw });
  };
  if (cfg.fmt === 1 && smmu.f.stLevel2) {
    const split = [6, 8, 10].includes(cfg.split) ? cfg.split : 6;
    const l1n = 2 ** Math.max(log2 - split, 0);
    for (let i = 0; i < l1n; i++) {
      const l1 = mem.peek64(base + BigInt(i * 8));
      if (l1 === undefined) continue;
      const { span, l2ptr } = decodeL1std(l1);
      if (span === 0 || span > split + 1) continue;
      for (let j = 0; j < 2 ** (span - 1); j++) read(l2ptr + BigInt(j * 64), i * 2 ** split + j);
    }
  } else {
    for (let sid = 0; sid < 2 ** log2; sid++) read(base + BigInt(sid) * 64n, sid);
  }
  return out;
}

export interface CheckOptions {
  /** io-pgtables whose leaves hold DMA references (paravirt domains). */
  refcountedTables?: ArmLpaeIoPgtable[];
  /** Pools whose table pages must still be allocated when reachable. */
  pools?: TableAllocator[];
  /** Stop after this many violations (default 20). */
  limit?: number;
}

export function checkInvariants(smmu: Smmu, own: PageOwnership, opts: CheckOptions = {}): { ok: boolean; violations: Violation[] } {
  const limit = opts.limit ?? 20;
  const v: Violation[] = [];
  const add = (x: Violation): void => {
    if (v.length < limit) v.push(x);
  };
  const mem = smmu.mem;
  const hostReach = (pa: bigint, size: bigint, sid: number): void => {
    for (let p = pa / PAGE; p < (pa + size + PAGE - 1n) / PAGE && v.length < limit; p++) {
      if (!own.isTracked(p)) continue; // no memory there: nothing to protect
      if (!own.hostCanAccess(p)) {
        add({ kind: 'reach', sid, pa: p * PAGE, message: `SID ${sid} can reach 0x${(p * PAGE).toString(16)}, owned by ${JSON.stringify(own.owner(p))}` });
        return;
      }
    }
  };
  const tables: bigint[] = [];
  if (smmu.smmuEnabled) {
    for (const { sid, dwords } of liveStes(smmu)) {
      if (((dwords[0] >> 1n) & 7n) === 0n) continue; // Config = abort: reaches nothing (no decode needed)
      const ste = decodeSte(dwords);
      const val = validateSte(ste, smmu.f, smmu.f.hyp);
      if (!val.ok || val.config === 'abort') continue;
      if (val.config === 'bypass') {
        add({ kind: 'bypass', sid, message: `SID ${sid} bypasses translation: it can reach all of memory` });
        continue;
      }
      if (val.config === 's2' || val.config === 'nested') {
        // Whatever stage 1 does, every output goes through these stage-2 leaves.
        for (const l of s2Leaves(mem, s2ParamsFromSte(ste, smmu.f), tables)) hostReach(l.oa, l.size, sid);
        continue;
      }
      // Stage 1 only: every CD's tables.
      const n = ste.S1CDMax === 0 || smmu.f.ssidsize === 0 ? 1 : 2 ** Math.min(ste.S1CDMax, 10);
      for (let ssid = 0; ssid < n; ssid++) {
        let cdAddr: bigint;
        if (ste.S1CDMax === 0 || ste.S1Fmt === 0 || ste.S1Fmt === 3) cdAddr = ste.S1ContextPtr + BigInt(ssid) * 64n;
        else {
          const leafBits = ste.S1Fmt === 1 ? 6 : 10;
          const l1 = mem.peek64(ste.S1ContextPtr + BigInt(ssid >> leafBits) * 8n) ?? 0n;
          if ((l1 & 1n) === 0n) continue;
          cdAddr = (l1 & 0x000f_ffff_ffff_f000n) + BigInt(ssid % 2 ** leafBits) * 64n;
        }
        const dw: bigint[] = [];
        for (let i = 0; i < 8; i++) dw.push(mem.peek64(cdAddr + BigInt(i * 8)) ?? 0n);
        const cd = decodeCd(dw);
        if (!validateCd(cd, smmu.f, false).ok) continue;
        for (const l of s1Leaves(mem, s1ParamsFromCd(cd, smmu.f), tables)) hostReach(l.oa, l.size, sid);
      }
    }
  }
  // Refcounts: each RAM page's DMA refcount equals its number of mappings.
  if (opts.refcountedTables) {
    const counts = new Map<bigint, number>();
    for (const t of opts.refcountedTables) {
      for (const l of t.leaves()) {
        const idx = Number((l.pte >> 2n) & 0xfn);
        for (let p = l.pa / PAGE; p < (l.pa + l.size) / PAGE; p++) {
          if (own.isMmio(p) && (idx === 1 || idx === 2)) continue;
          counts.set(p, (counts.get(p) ?? 0) + 1);
        }
      }
    }
    for (const [p, n] of counts) {
      const rc = own.dmaRefcount(p);
      if (rc !== n) add({ kind: 'refcount', pa: p * PAGE, message: `page 0x${(p * PAGE).toString(16)} is mapped ${n} time(s) but its DMA refcount is ${rc}` });
    }
    for (const r of own.regions()) {
      if (!r.dmaPinned) continue;
      for (let p = BigInt(r.pfn); p < BigInt(r.pfn + r.nr) && v.length < limit; p++) {
        if (!counts.has(p) && own.dmaRefcount(p) > 0) add({ kind: 'refcount', pa: p * PAGE, message: `page 0x${(p * PAGE).toString(16)} has DMA refcount ${own.dmaRefcount(p)} but no mapping` });
      }
    }
  }
  // Reachable table pages must not have been freed.
  if (opts.pools) {
    for (const t of tables) {
      for (const pool of opts.pools) {
        if (t >= pool.base && t < pool.limit && !pool.isLive(t & ~(PAGE - 1n)) && !pool.isLive(t)) {
          add({ kind: 'freed-table', pa: t, message: `a live STE reaches table page 0x${t.toString(16)}, which was freed` });
        }
      }
    }
  }
  return { ok: v.length === 0, violations: v };
}
