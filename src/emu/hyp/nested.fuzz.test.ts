/**
 * Fuzz: a malicious host against NestedHyp (hyp.md §2, "Attacks the model
 * must show rejected"). The host is untrusted: it writes any value to any
 * SMMU register offset through hostPort(), any STE / L1STD / command /
 * table into memory it can access, rings CMDQ_PROD with anything in its
 * queue, moves pages between itself, the hyp and guests, tops up the hyp's
 * pool, and its devices DMA anywhere. After every step:
 *
 *  - nothing throws out of the hyp;
 *  - NestedHyp.checkInvariants() is empty (identity S2 of exactly what the
 *    host can access; every valid shadow uses the hyp's S2);
 *  - invariants.ts checkInvariants(smmu, own) is ok: read from the real
 *    SMMU's tables in memory, no device reaches a page the host does not
 *    own, no stream bypasses, no reachable table page was freed;
 *  - the real SMMU is still the hyp's (enabled, its stream table and queue),
 *    the real queue never saw an illegal command (realCerrors = 0), no MSI
 *    was ever written, pages taken from the host keep their contents, and
 *    every probe DMA that succeeds lands in host memory.
 *
 * Property 1 starts from a bare machine (the host programs the SMMU through
 * raw MMIO, or not at all); property 2 starts from the ordinary host driver
 * after probe / init / attach / map (rig of nested.test.ts), so valid S1
 * tables, CD tables and nested shadows exist before the fuzzing starts, and
 * adds the driver's own operations (map anything, unmap, attach, detach,
 * PASIDs, domains) to the raw attacks.
 *
 * Cost: invariants.ts's checkInvariants decodes every valid real STE (a
 * level-2 array holds 256 abort STEs) and walks the stage 2 once per
 * translating STE, a few ms per call from property 2's state. Property 1
 * runs it after every step; property 2 (400 runs) runs it every 10th step
 * and after the last, with a structural check of every real STE after every
 * step (each aborts or carries exactly the hyp's stage-2 dwords, which with
 * NestedHyp.checkInvariants implies what invariants.ts checks); property 3
 * is property 2 with invariants.ts after every step, on fewer runs. The
 * machine is small (4 MiB of RAM, SIDSIZE 6 or 16) for the same reason.
 * Runs scale with FUZZ_SCALE (src/emu/hyp/fuzz.ts; `npm run fuzz`); the seed
 * is fixed unless FUZZ_SEED is set.
 */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { IOMMU_CACHE, IOMMU_READ, IOMMU_WRITE } from '../iopgtable';
import { PhysicalMemory, TableAllocator } from '../memory';
import { type MmioPort, REG, type SmmuDomain, SmmuDriver } from '../host/smmu-driver';
import { type Command, decodeCommand, encodeCommand } from '../smmu/commands';
import { encodeCd } from '../smmu/cd';
import { PAGE1, REG_BY_OFFSET, queueBase, strtabCfg } from '../smmu/registers';
import { type Access, Smmu } from '../smmu/smmu';
import { decodeL1std, encodeL1std, encodeSte } from '../smmu/ste';
import { fuzzRuns, fuzzSeed, fuzzTimeout } from './fuzz';
import { checkInvariants } from './invariants';
import { NestedHyp, type VirtualRegs } from './nested';
import { PageOwnership } from './ownership';

// ---------------------------------------------------------------------------
// The machine: 4 MiB of RAM at 1 GiB.

const K4 = 0x1000n;
const U64 = (1n << 64n) - 1n;
const RAM_BASE = 0x4000_0000n;
const RAM_SIZE = 0x40_0000n;
const RAM_END = RAM_BASE + RAM_SIZE;
/** Raw host (property 1): its stream table, L2 array, queues, CD and S1 tables. */
const HOST_ST = RAM_BASE;
const HOST_L2 = RAM_BASE + 0x8000n;
const HOST_CMDQ = RAM_BASE + 0x1_0000n;
const HOST_EVTQ = RAM_BASE + 0x2_0000n;
const HOST_CD = RAM_BASE + 0x3_0000n;
const HOST_PT = RAM_BASE + 0x4_0000n; // 4 table pages
/** Host driver (property 2): its table allocator. */
const HOST_ALLOC = RAM_BASE + 0x8_0000n;
const HOST_ALLOC_END = RAM_BASE + 0x20_0000n;
/** DMA buffers, and pages the fuzz likes to give to guests. */
const BUF = RAM_BASE + 0x20_0000n;
const GUEST_AREA = RAM_BASE + 0x28_0000n;
/** The hyp's pool (grows up towards RAM_END with top-ups). */
const POOL = RAM_BASE + 0x30_0000n;
const BOOT_POOL_PAGES = 64;
/** The SMMU's SIDSIZE: 16 (two-level stream tables, as in the rig) or 6 (one small linear table: cheaper to check every step). */
const SIDSIZES = [6, 16] as const;
const IOVA = 0x8000_0000n;
const RW = IOMMU_READ | IOMMU_WRITE;

const SIDS = [0, 1, 3, 5, 9, 40, 63, 64, 255, 256, 300] as const;
const PROBE_SIDS = [1, 3, 5, 9, 40] as const;
const GBPA_ABORT_UPDATE = (1n << 31n) | (1n << 20n);

/** A host access to memory it cannot reach: a stage-2 fault on the host CPU. */
class HostFault extends Error {}

interface M {
  mem: PhysicalMemory;
  smmu: Smmu;
  own: PageOwnership;
  hyp: NestedHyp;
  /** hostPort(), wrapped to record any exception escaping the hyp. */
  port: MmioPort;
  hypError: { e: unknown } | null;
  /** Property 2: the host's driver (over `port`, writing memory through a host-access-checked view). */
  drv: SmmuDriver | null;
  doms: SmmuDomain[];
  /** Pages taken away from the host (not the pool) and a hash of their contents when taken. */
  guarded: Map<bigint, number>;
  /** Recently donated pages, probed by DMA. */
  donated: bigint[];
  /** Successful ownership transitions (most recent last). */
  history: Array<{ op: OwnOp; pfn: bigint; nr: number; vm: number }>;
  realStrtab: bigint;
  realCmdq: bigint;
  realGbpa: number;
  sidsize: number;
  stats: { skippedWrites: number; hostErrors: number; steps: number };
}

function wrapPort(inner: MmioPort, m: { hypError: { e: unknown } | null }): MmioPort {
  return {
    read: (offset) => {
      try {
        return inner.read(offset);
      } catch (e) {
        m.hypError ??= { e };
        throw e;
      }
    },
    write: (offset, value) => {
      try {
        inner.write(offset, value);
      } catch (e) {
        m.hypError ??= { e };
        throw e;
      }
    },
  };
}

/** The host's view of memory: writes to pages it cannot access fault (as its CPU stage 2 would make them). */
function hostMemory(mem: PhysicalMemory, own: PageOwnership): PhysicalMemory {
  const view = Object.create(mem) as PhysicalMemory;
  const check = (pa: number, size: number): void => {
    for (let p = Math.floor(pa / 4096); p < Math.ceil((pa + size) / 4096); p++) {
      if (!own.hostCanAccess(p) || own.isMmio(p)) throw new HostFault(`host write to 0x${(p * 4096).toString(16)}, which it cannot access`);
    }
  };
  view.write = (pa: number, lo: number, hi: number): boolean => {
    check(pa, 8);
    return PhysicalMemory.prototype.write.call(view, pa, lo, hi);
  };
  view.zeroRange = (pa: number, size: number): void => {
    check(pa, size);
    PhysicalMemory.prototype.zeroRange.call(view, pa, size);
  };
  return view;
}

interface MachineOpts {
  vcmdq: boolean;
  sidsize: number;
  bootPool: number;
}

function newMachine({ vcmdq, sidsize, bootPool }: MachineOpts): M {
  const mem = new PhysicalMemory([{ base: RAM_BASE, size: RAM_SIZE }]);
  const own = PageOwnership.fromMemory(mem);
  const smmu = new Smmu(mem, { sidsize });
  const hyp = new NestedHyp(mem, smmu, own, { poolBase: POOL, bootPoolPages: bootPool, vcmdq, logMmio: false, maxLog: 200 });
  const m: M = {
    mem,
    smmu,
    own,
    hyp,
    port: hyp.hostPort(),
    hypError: null,
    drv: null,
    doms: [],
    guarded: new Map(),
    donated: [],
    history: [],
    realStrtab: smmu.strtabBase,
    realCmdq: smmu.cmdqBase,
    realGbpa: smmu.gbpa,
    sidsize,
    stats: { skippedWrites: 0, hostErrors: 0, steps: 0 },
  };
  m.port = wrapPort(hyp.hostPort(), m);
  return m;
}

/** Property 2's starting point: the ordinary driver, two S1 domains, a PASID, a bypass STE. */
function initHost(m: M): void {
  const hmem = hostMemory(m.mem, m.own);
  const drv = new SmmuDriver(m.port, hmem, new TableAllocator(hmem, HOST_ALLOC, HOST_ALLOC_END), { logMmio: false, maxLog: 200 });
  m.drv = drv;
  drv.probe();
  drv.init();
  const d0 = drv.allocDomain('s1');
  const d1 = drv.allocDomain('s1');
  m.doms.push(d0, d1);
  drv.attach(3, d0);
  expect(drv.map(d0, IOVA, BUF, 4n * K4, RW).error).toBeUndefined();
  // The host's S1 may map anything: the hyp's S2 must stop what it does not own.
  expect(drv.map(d0, IOVA + 0x10_0000n, POOL, K4, RW).error).toBeUndefined();
  drv.attach(40, d1);
  expect(drv.map(d1, IOVA, BUF + 0x1_0000n, 2n * K4, RW | IOMMU_CACHE).error).toBeUndefined();
  drv.attach(9, d1, { ssid: 1, pasidBits: 2 });
  // A bypass STE for SID 5 (becomes S2-only).
  drv.addDevice(5);
  const a = drv.steAddr(5);
  const ste = encodeSte({ V: 1, Config: 0b100 });
  for (let i = 0; i < 8; i++) hmem.write64(a + BigInt(i * 8), ste[i]);
  expect(drv.issueCmd({ op: 'CMD_CFGI_STE', sid: 5, leaf: true }, true)).toBeUndefined();
  expect(m.smmu.translate({ sid: 3, iova: IOVA + 0x18n, access: 'read', priv: false })).toMatchObject({ kind: 'ok', pa: BUF + 0x18n });
  expect(m.smmu.translate({ sid: 5, iova: BUF, access: 'read', priv: false })).toMatchObject({ kind: 'ok', pa: BUF });
  expect(m.smmu.translate({ sid: 3, iova: IOVA + 0x10_0000n, access: 'read', priv: false }).kind).toBe('fault');
}

// ---------------------------------------------------------------------------
// Host memory helpers

const pfnOf = (pa: bigint): bigint => pa >> 12n;

function hostCan(m: M, pa: bigint): boolean {
  return pa >= 0n && m.own.hostCanAccess(pfnOf(pa)) && !m.own.isMmio(pfnOf(pa));
}

/** A host memory write: only where the host can write (else skipped and counted). */
function hostWrite(m: M, pa: bigint, value: bigint): boolean {
  const a = pa & ~7n;
  if (!hostCan(m, a)) {
    m.stats.skippedWrites++;
    return false;
  }
  m.mem.write64(a, value);
  return true;
}

function hostRead(m: M, pa: bigint): bigint | undefined {
  return hostCan(m, pa) ? m.mem.peek64(pa & ~7n) : undefined;
}

function pageHash(mem: PhysicalMemory, pfn: bigint): number {
  let h = 0x811c9dc5;
  const base = Number(pfn) * 4096;
  for (let a = base; a < base + 4096; a += 8) {
    if (!mem.peek(a)) return -1;
    h = Math.imul(h ^ mem.lo, 16777619);
    h = Math.imul(h ^ mem.hi, 16777619);
  }
  return h;
}

/** Where the SMMU (and the hyp) would read the host's STE for `sid`, from the virtual registers; null when unreachable. */
function hostSteAddr(m: M, v: VirtualRegs, sid: number): bigint | null {
  const cfg = strtabCfg(v.strtabBaseCfg);
  const log2 = Math.min(cfg.log2size, m.sidsize);
  if (sid >= 2 ** log2) return null;
  const base = v.strtabBase & 0x000f_ffff_ffff_ffc0n;
  if (cfg.fmt !== 1) return (base & ~((1n << BigInt(cfg.log2size + 6)) - 1n)) + BigInt(sid) * 64n;
  let split = cfg.split;
  if (split !== 6 && split !== 8 && split !== 10) split = 6;
  const l1Bytes = 1n << BigInt(Math.max(6, cfg.log2size - split + 3));
  const l1 = hostRead(m, (base & ~(l1Bytes - 1n)) + BigInt(Math.floor(sid / 2 ** split)) * 8n);
  if (l1 === undefined) return null;
  const { span, l2ptr } = decodeL1std(l1);
  if (span === 0 || span > 11 || span > split + 1) return null;
  const idx = sid % 2 ** split;
  if (idx >= 2 ** (span - 1)) return null;
  return (l2ptr & ~(BigInt(2 ** (span - 1) * 64) - 1n)) + BigInt(idx) * 64n;
}

function hostCmdq(v: VirtualRegs): { base: bigint; n: number } {
  const { addr, log2size } = queueBase(v.cmdqBase);
  const n = 2 ** Math.min(log2size, 19);
  return { base: BigInt(addr) & ~(BigInt(n * 16) - 1n), n };
}

function qInc(p: number, n: number): number {
  const idx = (p & (n - 1)) + 1;
  const wrap = (p & n) ^ (idx === n ? n : 0);
  return wrap | (idx % n);
}

// ---------------------------------------------------------------------------
// Arbitraries

const arbSid = fc.oneof(
  { weight: 10, arbitrary: fc.constantFrom(...SIDS) },
  { weight: 2, arbitrary: fc.integer({ min: 0, max: 2 ** 16 + 1 }) },
  { weight: 1, arbitrary: fc.constantFrom(-1, 2 ** 20, 2 ** 32 - 1) },
);
/** A SID for command fields (32 bits in the encoding). */
const arbCmdSid = arbSid.map((s) => (s < 0 ? 0xffff_ffff : s) >>> 0);

const page = (base: bigint, max: number): fc.Arbitrary<bigint> => fc.integer({ min: 0, max }).map((k) => base + BigInt(k) * K4);

/** Physical addresses worth attacking: host tables and buffers, the pool and what follows it, guest pages, no memory. */
const arbPa = fc.oneof(
  { weight: 4, arbitrary: page(BUF, 31) },
  { weight: 3, arbitrary: page(GUEST_AREA, 31) },
  { weight: 3, arbitrary: page(POOL, BOOT_POOL_PAGES + 8) },
  { weight: 2, arbitrary: fc.constantFrom(HOST_ST, HOST_L2, HOST_CMDQ, HOST_EVTQ, HOST_CD, HOST_PT, HOST_PT + K4, HOST_PT + 3n * K4) },
  { weight: 2, arbitrary: page(HOST_ALLOC, 24) },
  { weight: 2, arbitrary: page(RAM_BASE, Number(RAM_SIZE / K4) - 1) },
  { weight: 1, arbitrary: fc.constantFrom(RAM_END - K4, RAM_END, RAM_BASE - K4, 0n, 1n << 40n) },
);

const arbU32 = fc.integer({ min: 0, max: 0xffff_ffff });
const arbU64 = fc.bigInt({ min: 0n, max: U64 });
const arbAddrField = fc.oneof({ weight: 6, arbitrary: arbPa }, { weight: 1, arbitrary: arbU64 });
const arbAligned = (align: bigint): fc.Arbitrary<bigint> => arbAddrField.map((a) => a & 0x000f_ffff_ffff_ffffn & ~(align - 1n));

/**
 * STRTAB_BASE_CFG values. A linear table is kept at 2^12 STEs or fewer: the
 * hyp re-shadows every StreamID of a linear host table on each SMMUEN 0 → 1
 * and CFGI_ALL (about 10 µs a StreamID, 0.65 s for 2^16; see the report), which
 * would dominate the run time without finding more.
 */
const clampLinear = (v: number): number => (((v >>> 16) & 3) === 1 ? v : (v & ~0x3f) | Math.min(v & 0x3f, 12));
const arbStrtabCfg = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 0, max: 8 }) }, // linear, small
  { weight: 1, arbitrary: fc.constant(12) }, // linear, large
  { weight: 4, arbitrary: fc.tuple(fc.constantFrom(6, 8, 8, 10, 3), fc.integer({ min: 6, max: 16 })).map(([split, log2]) => (1 << 16) | (split << 6) | log2) },
  { weight: 1, arbitrary: arbU32.map(clampLinear) },
);

type Act =
  | { op: 'setup'; cfg: number; l1: boolean; cmdqLog2: number; evtqLog2: number; stBase: bigint }
  | { op: 'mmioW'; off: number; value: bigint }
  | { op: 'mmioR'; off: number }
  | { op: 'ack' }
  | { op: 'ste'; sid: number; dw: bigint[]; cfgi: 'none' | 'ste' | 'range' | 'all'; viaDriver: boolean }
  | { op: 'l1std'; idx: number; span: number; l2: bigint }
  | { op: 'chain'; iova: number; pa: bigint; redirect: number; to: bigint }
  | { op: 'cd'; ttb: bigint; asid: number; tsz: number; junk: boolean; at: bigint }
  | { op: 'mem'; addr: bigint; value: bigint }
  | { op: 'cmds'; cmds: Array<[bigint, bigint]>; prod: number | null; viaDriver: boolean; sync: boolean }
  | { op: 'own'; what: OwnOp | 'undo'; pa: bigint; nr: number; vm: number; recent: number | null }
  | { op: 'topUp'; pages: number }
  | { op: 'dma'; sid: number; ssid: number | undefined; iova: bigint; access: Access }
  | { op: 'poll' }
  | { op: 'drainPool'; keep: number }
  // Property 2 only: the host driver.
  | { op: 'map'; dom: number; iova: bigint; pa: bigint; pages: number; prot: number }
  | { op: 'unmap'; dom: number; iova: bigint; pages: number; queued: boolean }
  | { op: 'attach'; dom: number; sid: number; ssid: number }
  | { op: 'detach'; sid: number; ssid: number }
  | { op: 'alloc' }
  | { op: 'free'; dom: number }
  | { op: 'gerror' };

type OwnOp = 'donate_guest' | 'return_guest' | 'share_hyp' | 'unshare_hyp' | 'donate_hyp' | 'share_guest' | 'unshare_guest';
/** The transition that undoes another (donate_hyp has none the host can ask for). */
const UNDO: Partial<Record<OwnOp, OwnOp>> = { donate_guest: 'return_guest', share_hyp: 'unshare_hyp', share_guest: 'unshare_guest' };

const arbSetup: fc.Arbitrary<Act> = fc.record({
  op: fc.constant('setup' as const),
  cfg: fc.oneof({ weight: 5, arbitrary: fc.constantFrom(6, 8, (1 << 16) | (6 << 6) | 8, (1 << 16) | (8 << 6) | 10) }, { weight: 1, arbitrary: arbStrtabCfg }),
  l1: fc.boolean(),
  cmdqLog2: fc.oneof({ weight: 5, arbitrary: fc.constantFrom(4, 6, 8) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 31 }) }),
  evtqLog2: fc.constantFrom(2, 4, 7),
  stBase: fc.oneof({ weight: 8, arbitrary: fc.constant(HOST_ST) }, { weight: 1, arbitrary: arbAligned(64n) }),
});

const REG_OFFSETS = [...REG_BY_OFFSET.keys()];
const arbOffset = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom(...REG_OFFSETS) },
  { weight: 1, arbitrary: fc.constantFrom(0xa8, 0xac, 0x84, 0x8c, 0x94, 0xa4, PAGE1, PAGE1 + 0x98, 0x0dd0, 0xfff8) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 0x2_0000 }) },
);

const arbMmioW: fc.Arbitrary<Act> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant('mmioW' as const), off: fc.constant(REG.CR0), value: fc.oneof(fc.constantFrom(0n, 1n, 4n, 8n, 0xcn, 0xdn, 9n, 5n, 0xc0n), arbU32.map(BigInt)) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('mmioW' as const), off: fc.constant(REG.GBPA), value: fc.oneof(fc.constantFrom(GBPA_ABORT_UPDATE, 1n << 31n, 0n), arbU32.map(BigInt)) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('mmioW' as const), off: fc.constant(REG.STRTAB_BASE), value: arbAligned(64n).map((a) => a | (1n << 62n)) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('mmioW' as const), off: fc.constant(REG.STRTAB_BASE_CFG), value: arbStrtabCfg.map(BigInt) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant('mmioW' as const),
      off: fc.constantFrom(REG.CMDQ_BASE, REG.EVTQ_BASE),
      value: fc.tuple(arbAligned(32n), fc.integer({ min: 0, max: 31 })).map(([a, l]) => a | BigInt(l) | (1n << 62n)),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant('mmioW' as const),
      off: fc.constantFrom(REG.CMDQ_PROD, REG.CMDQ_CONS, REG.EVTQ_PROD, REG.EVTQ_CONS, 0xa8, 0xac),
      value: fc.oneof(fc.integer({ min: 0, max: 600 }).map(BigInt), arbU32.map(BigInt)),
    }),
  },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('mmioW' as const), off: fc.constantFrom(REG.GERRORN, REG.CR1, REG.CR2, REG.IRQ_CTRL), value: arbU32.map(BigInt) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('mmioW' as const), off: arbOffset, value: fc.oneof(arbU64, arbPa) }) },
);

/** STEs: valid, forged, illegal, junk. */
const arbSteDw: fc.Arbitrary<bigint[]> = fc.oneof(
  { weight: 4, arbitrary: fc.constant(encodeSte({ V: 1, Config: 0b101, S1ContextPtr: HOST_CD, S1CIR: 1, S1COR: 1, S1CSH: 3 })) },
  { weight: 2, arbitrary: fc.constant(encodeSte({ V: 1, Config: 0 })) },
  { weight: 3, arbitrary: fc.record({ PRIVCFG: fc.integer({ min: 0, max: 3 }), INSTCFG: fc.integer({ min: 0, max: 3 }), S2VMID: fc.integer({ min: 0, max: 0xffff }) }).map((f) => encodeSte({ V: 1, Config: 0b100, ...f })) },
  {
    weight: 5,
    arbitrary: fc
      .record({
        S1ContextPtr: fc.oneof({ weight: 4, arbitrary: fc.constant(HOST_CD) }, { weight: 3, arbitrary: arbAligned(64n) }),
        S1Fmt: fc.integer({ min: 0, max: 3 }),
        S1CDMax: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 31 })),
        S1DSS: fc.integer({ min: 0, max: 3 }),
        STRW: fc.integer({ min: 0, max: 3 }),
        EATS: fc.integer({ min: 0, max: 3 }),
        S1STALLD: fc.integer({ min: 0, max: 1 }),
        S2VMID: fc.integer({ min: 0, max: 0xffff }),
        S2TTB: arbAligned(16n),
        S2T0SZ: fc.integer({ min: 0, max: 63 }),
      })
      .map((f) => encodeSte({ V: 1, Config: 0b101, ...f })),
  },
  {
    weight: 3,
    arbitrary: fc
      .record({
        Config: fc.constantFrom(0b110, 0b111),
        S1ContextPtr: arbAligned(64n),
        S2VMID: fc.integer({ min: 0, max: 0xffff }),
        S2T0SZ: fc.integer({ min: 16, max: 40 }),
        S2SL0: fc.integer({ min: 0, max: 3 }),
        S2TG: fc.integer({ min: 0, max: 3 }),
        S2PS: fc.integer({ min: 0, max: 7 }),
        S2AA64: fc.integer({ min: 0, max: 1 }),
        S2R: fc.integer({ min: 0, max: 1 }),
        S2TTB: fc.oneof(fc.constantFrom(POOL, RAM_BASE, GUEST_AREA), arbAligned(16n)),
      })
      .map((f) => encodeSte({ V: 1, ...f })),
  },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 3 }).map((c) => encodeSte({ V: 1, Config: c })) },
  { weight: 1, arbitrary: fc.array(arbU64, { minLength: 8, maxLength: 8 }) },
  { weight: 2, arbitrary: fc.array(arbU64, { minLength: 8, maxLength: 8 }).map((d) => [d[0] & ~1n, ...d.slice(1)]) },
);

const arbSte: fc.Arbitrary<Act> = fc.record({
  op: fc.constant('ste' as const),
  sid: arbSid,
  dw: arbSteDw,
  cfgi: fc.constantFrom('none' as const, 'ste' as const, 'ste' as const, 'ste' as const, 'range' as const, 'all' as const),
  viaDriver: fc.boolean(),
});

const arbTlbiRange = fc.record({
  addr: arbU64.map((a) => a & ~0xfffn),
  leaf: fc.boolean(),
  ttl: fc.integer({ min: 0, max: 3 }),
  tg: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 3 })),
  num: fc.integer({ min: 0, max: 31 }),
  scale: fc.integer({ min: 0, max: 31 }),
});
const arbSsid = fc.oneof(fc.constantFrom(0, 1, 3), fc.integer({ min: 0, max: 2 ** 20 - 1 }));
const arbVmid = fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 0xffff }));
const arbAsid = fc.oneof(fc.constantFrom(1, 2), fc.integer({ min: 0, max: 0xffff }));

/** Commands as the architecture encodes them: every opcode, random fields. */
const arbCommand: fc.Arbitrary<Command> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ op: fc.constant('CMD_CFGI_STE' as const), sid: arbCmdSid, leaf: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('CMD_CFGI_STE_RANGE' as const), sid: arbCmdSid, range: fc.integer({ min: 0, max: 31 }) }) },
  { weight: 2, arbitrary: fc.constant({ op: 'CMD_CFGI_ALL' as const }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('CMD_CFGI_STE' as const), sid: arbCmdSid, leaf: fc.boolean(), ssec: fc.constant(true) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('CMD_CFGI_CD' as const), sid: arbCmdSid, ssid: arbSsid, leaf: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('CMD_CFGI_CD_ALL' as const), sid: arbCmdSid }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('CMD_PREFETCH_CONFIG' as const), sid: arbCmdSid, ssid: arbSsid, ssv: fc.boolean() }) },
  {
    weight: 1,
    arbitrary: fc.record({ op: fc.constant('CMD_PREFETCH_ADDR' as const), sid: arbCmdSid, ssid: arbSsid, ssv: fc.boolean(), size: fc.integer({ min: 0, max: 31 }), addr: arbU64.map((a) => a & ~0xfffn) }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('CMD_CFGI_VMS_PIDM' as const), vmid: arbVmid }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('CMD_TLBI_NH_ALL' as const), vmid: arbVmid }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('CMD_TLBI_NH_ASID' as const), vmid: arbVmid, asid: arbAsid }) },
  { weight: 2, arbitrary: fc.tuple(arbVmid, arbAsid, arbTlbiRange).map(([vmid, asid, r]): Command => ({ op: 'CMD_TLBI_NH_VA', vmid, asid, ...r })) },
  { weight: 1, arbitrary: fc.tuple(arbVmid, arbTlbiRange).map(([vmid, r]): Command => ({ op: 'CMD_TLBI_NH_VAA', vmid, ...r })) },
  { weight: 2, arbitrary: fc.tuple(arbVmid, arbTlbiRange).map(([vmid, r]): Command => ({ op: 'CMD_TLBI_S2_IPA', vmid, ...r })) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('CMD_TLBI_S12_VMALL' as const), vmid: arbVmid }) },
  { weight: 2, arbitrary: fc.constant({ op: 'CMD_TLBI_NSNH_ALL' as const }) },
  { weight: 1, arbitrary: fc.constantFrom<Command>({ op: 'CMD_TLBI_EL2_ALL' }, { op: 'CMD_TLBI_EL3_ALL' }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('CMD_TLBI_EL2_ASID' as const), asid: arbAsid }) },
  { weight: 1, arbitrary: fc.tuple(arbAsid, arbTlbiRange).map(([asid, r]): Command => ({ op: 'CMD_TLBI_EL2_VA', asid, ...r })) },
  { weight: 1, arbitrary: arbTlbiRange.map((r): Command => ({ op: 'CMD_TLBI_EL2_VAA', ...r })) },
  { weight: 1, arbitrary: arbTlbiRange.map((r): Command => ({ op: 'CMD_TLBI_EL3_VA', ...r })) },
  {
    weight: 1,
    arbitrary: fc.record({ op: fc.constant('CMD_ATC_INV' as const), sid: arbCmdSid, ssid: arbSsid, ssv: fc.boolean(), global: fc.boolean(), size: fc.integer({ min: 0, max: 63 }), addr: arbU64.map((a) => a & ~0xfffn) }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('CMD_PRI_RESP' as const), sid: arbCmdSid, ssid: arbSsid, ssv: fc.boolean(), grpid: fc.integer({ min: 0, max: 511 }), resp: fc.integer({ min: 0, max: 3 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('CMD_RESUME' as const), sid: arbCmdSid, stag: fc.integer({ min: 0, max: 0xffff }), action: fc.integer({ min: 0, max: 3 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('CMD_STALL_TERM' as const), sid: arbCmdSid }) },
  {
    weight: 4,
    arbitrary: fc.record({
      op: fc.constant('CMD_SYNC' as const),
      cs: fc.integer({ min: 0, max: 3 }),
      msh: fc.integer({ min: 0, max: 3 }),
      msiattr: fc.integer({ min: 0, max: 15 }),
      msidata: arbU32,
      msiaddr: fc.oneof(fc.constant(0n), arbAligned(4n)),
    }),
  },
);

/** Queue entries: encoded commands, or raw dwords with any opcode. */
const arbCmdDw: fc.Arbitrary<[bigint, bigint]> = fc.oneof(
  { weight: 6, arbitrary: arbCommand.map(encodeCommand) },
  { weight: 1, arbitrary: fc.tuple(fc.integer({ min: 0, max: 255 }), arbU64, arbU64).map(([op, a, b]): [bigint, bigint] => [(a & ~0xffn) | BigInt(op), b]) },
  { weight: 1, arbitrary: fc.tuple(arbU64, arbU64) },
);

/** CFGI_STEs for SIDs in many level-2 groups: each makes the hyp allocate a level-2 array from its pool. */
const arbBurst: fc.Arbitrary<Act> = fc.record({
  op: fc.constant('cmds' as const),
  cmds: fc.array(fc.integer({ min: 0, max: 255 }).map((g) => encodeCommand({ op: 'CMD_CFGI_STE', sid: g * 256 + 7, leaf: true })), { minLength: 2, maxLength: 12 }),
  prod: fc.constant(null),
  viaDriver: fc.boolean(),
  sync: fc.constant(true),
});

const arbCmds: fc.Arbitrary<Act> = fc.record({
  op: fc.constant('cmds' as const),
  cmds: fc.array(arbCmdDw, { minLength: 1, maxLength: 6 }),
  prod: fc.oneof({ weight: 8, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: arbU32 }),
  viaDriver: fc.boolean(),
  sync: fc.boolean(),
});

const arbOwn: fc.Arbitrary<Act> = fc.record({
  op: fc.constant('own' as const),
  what: fc.constantFrom<OwnOp | 'undo'>('donate_guest', 'donate_guest', 'return_guest', 'share_hyp', 'unshare_hyp', 'donate_hyp', 'share_guest', 'unshare_guest', 'undo', 'undo'),
  pa: arbPa,
  nr: fc.oneof({ weight: 6, arbitrary: fc.integer({ min: 1, max: 4 }) }, { weight: 1, arbitrary: fc.constantFrom(16, 512) }),
  vm: fc.constantFrom(1, 2),
  // Reuse the pages (and VM) of an earlier successful transition: return what was donated, unshare what was shared.
  recent: fc.oneof({ weight: 3, arbitrary: fc.constant(null) }, { weight: 2, arbitrary: fc.integer({ min: 0, max: 7 }) }),
});

const arbDma: fc.Arbitrary<Act> = fc.record({
  op: fc.constant('dma' as const),
  sid: arbSid.map((s) => (s < 0 ? 0 : s)),
  ssid: fc.option(fc.constantFrom(0, 1, 2, 3), { nil: undefined }),
  iova: fc.oneof(page(IOVA, 4), page(IOVA + 0x10_0000n, 2), arbPa, arbU64).map((a) => a + 0x28n),
  access: fc.constantFrom<Access>('read', 'write', 'exec'),
});

const arbChain: fc.Arbitrary<Act> = fc.record({
  op: fc.constant('chain' as const),
  iova: fc.integer({ min: 0, max: 3 }),
  pa: arbPa,
  redirect: fc.integer({ min: -1, max: 3 }),
  to: arbPa,
});

const arbCd: fc.Arbitrary<Act> = fc.record({
  op: fc.constant('cd' as const),
  ttb: fc.oneof({ weight: 4, arbitrary: fc.constant(HOST_PT) }, { weight: 2, arbitrary: arbAligned(K4) }),
  asid: arbAsid,
  tsz: fc.oneof(fc.constant(16), fc.integer({ min: 0, max: 63 })),
  junk: fc.boolean(),
  at: fc.oneof({ weight: 4, arbitrary: fc.constant(HOST_CD) }, { weight: 1, arbitrary: arbAligned(64n) }),
});

/** What every host can do (both properties). */
const rawActs: Array<fc.WeightedArbitrary<Act>> = [
  { weight: 2, arbitrary: arbSetup },
  { weight: 8, arbitrary: arbMmioW },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('mmioR' as const), off: arbOffset }) },
  { weight: 2, arbitrary: fc.constant({ op: 'ack' as const }) },
  { weight: 10, arbitrary: arbSte },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('l1std' as const), idx: fc.integer({ min: 0, max: 5 }), span: fc.integer({ min: 0, max: 31 }), l2: fc.oneof(fc.constant(HOST_L2), arbAligned(64n)) }) },
  { weight: 3, arbitrary: arbChain },
  { weight: 3, arbitrary: arbCd },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('mem' as const), addr: arbPa.chain((p) => fc.integer({ min: 0, max: 511 }).map((w) => p + BigInt(w * 8))), value: fc.oneof(arbU64, arbPa.map((p) => p | 3n)) }) },
  { weight: 10, arbitrary: arbCmds },
  { weight: 2, arbitrary: arbBurst },
  { weight: 8, arbitrary: arbOwn },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('topUp' as const), pages: fc.integer({ min: -1, max: 8 }) }) },
  { weight: 6, arbitrary: arbDma },
  { weight: 1, arbitrary: fc.constant({ op: 'poll' as const }) },
  // Not a host action: the hyp's pool used up by its other structures (so stage-2 splits and level-2 arrays find it dry).
  { weight: 1, arbitrary: fc.record({ op: fc.constant('drainPool' as const), keep: fc.constantFrom(0, 0, 1, 4) }) },
];

const arbDom = fc.integer({ min: 0, max: 3 });
/** The host driver's own operations (property 2). */
const driverActs: Array<fc.WeightedArbitrary<Act>> = [
  {
    weight: 8,
    arbitrary: fc.record({
      op: fc.constant('map' as const),
      dom: arbDom,
      iova: fc.oneof(page(IOVA, 8), page(IOVA + 0x10_0000n, 4), fc.constant(IOVA + 0x20_0000n)),
      pa: arbPa,
      pages: fc.oneof(fc.integer({ min: 1, max: 4 }), fc.constant(512)),
      prot: fc.constantFrom(IOMMU_READ, RW, RW | IOMMU_CACHE),
    }),
  },
  { weight: 5, arbitrary: fc.record({ op: fc.constant('unmap' as const), dom: arbDom, iova: fc.oneof(page(IOVA, 8), page(IOVA + 0x10_0000n, 4)), pages: fc.integer({ min: 1, max: 8 }), queued: fc.boolean() }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('attach' as const), dom: arbDom, sid: fc.constantFrom(...SIDS), ssid: fc.constantFrom(0, 0, 1, 2) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('detach' as const), sid: fc.constantFrom(...SIDS), ssid: fc.constantFrom(0, 0, 1) }) },
  { weight: 1, arbitrary: fc.constant({ op: 'alloc' as const }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('free' as const), dom: arbDom }) },
  { weight: 2, arbitrary: fc.constant({ op: 'gerror' as const }) },
];

/** Per run: vCMDQ or not, SIDSIZE, and a boot pool that is roomy or nearly dry. */
const arbMachine = (...pools: number[]): fc.Arbitrary<MachineOpts> => fc.record({ vcmdq: fc.boolean(), sidsize: fc.constantFrom(...SIDSIZES), bootPool: fc.constantFrom(...pools) });
const arbRawSeq = fc.tuple(arbMachine(14, 20, BOOT_POOL_PAGES), fc.boolean(), fc.array(fc.oneof(...rawActs), { minLength: 5, maxLength: 40 }));
const arbDeepSeq = fc.tuple(arbMachine(20, BOOT_POOL_PAGES), fc.array(fc.oneof(...rawActs, ...driverActs), { minLength: 5, maxLength: 40 }));

// ---------------------------------------------------------------------------
// Running a step

const w = (m: M, off: number, v: bigint | number): void => m.port.write(off, BigInt(v));

function setup(m: M, a: Extract<Act, { op: 'setup' }>): void {
  w(m, REG.CR0, 0);
  w(m, REG.STRTAB_BASE, a.stBase | (1n << 62n));
  w(m, REG.STRTAB_BASE_CFG, a.cfg);
  const cfg = strtabCfg(a.cfg);
  if (cfg.fmt === 1 && a.l1) {
    // One valid L1STD for SIDs 0.., pointing at HOST_L2, spanning the split.
    const split = [6, 8, 10].includes(cfg.split) ? cfg.split : 6;
    hostWrite(m, a.stBase, encodeL1std({ span: split + 1, l2ptr: HOST_L2 }));
  }
  w(m, REG.CMDQ_BASE, HOST_CMDQ | BigInt(a.cmdqLog2) | (1n << 62n));
  w(m, REG.CMDQ_PROD, 0);
  w(m, REG.CMDQ_CONS, 0);
  w(m, REG.EVTQ_BASE, HOST_EVTQ | BigInt(a.evtqLog2) | (1n << 62n));
  w(m, REG.EVTQ_PROD, 0);
  w(m, REG.EVTQ_CONS, 0);
  w(m, REG.CR0, 0x8);
  w(m, REG.CR0, 0xc);
  w(m, REG.CR0, 0xd);
}

/** Write commands at the host's virtual PROD and ring the doorbell (raw), or hand decodable ones to the driver. */
function issue(m: M, cmds: ReadonlyArray<readonly [bigint, bigint]>, prod: number | null, viaDriver: boolean, sync: boolean): void {
  if (viaDriver && m.drv) {
    const decoded: Command[] = [];
    for (const [d0, d1] of cmds) {
      const d = decodeCommand(d0, d1);
      if (d.ok) decoded.push(d.cmd);
    }
    if (decoded.length > 0 || sync) {
      driverOp(m, () => {
        m.drv?.issueCmdlist(decoded, sync);
      });
      return;
    }
  }
  const v = m.hyp.virtualRegs();
  const q = hostCmdq(v);
  let p = v.cmdqProd;
  for (const [d0, d1] of cmds) {
    const slot = q.base + BigInt((p & (q.n - 1)) * 16);
    hostWrite(m, slot, d0);
    hostWrite(m, slot + 8n, d1);
    p = qInc(p, q.n);
  }
  w(m, REG.CMDQ_PROD, prod ?? p);
}

/** A host driver operation: its own failures (a bad argument, a fault on memory it gave away) are the host's problem; the hyp's are not. */
function driverOp(m: M, f: () => void): void {
  try {
    f();
  } catch {
    if (m.hypError) throw m.hypError.e;
    m.stats.hostErrors++;
  }
}

/** 4-level S1 chain at HOST_PT: IOVA page `iova` → pa (one level's pointer optionally redirected). */
function chain(m: M, a: Extract<Act, { op: 'chain' }>): void {
  const va = BigInt(a.iova) * K4;
  const tables = [HOST_PT, HOST_PT + K4, HOST_PT + 2n * K4, HOST_PT + 3n * K4];
  for (let lvl = 0; lvl < 4; lvl++) {
    const idx = (va >> BigInt(39 - 9 * lvl)) & 511n;
    let out = lvl < 3 ? tables[lvl + 1] | 3n : (a.pa & ~0xfffn) | 3n | (1n << 10n) | (1n << 6n) | (3n << 8n);
    if (lvl === a.redirect) out = (a.to & 0x0000_ffff_ffff_f000n) | 3n | (lvl === 3 ? (1n << 10n) | (1n << 6n) : 0n);
    hostWrite(m, tables[lvl] + idx * 8n, out);
  }
}

function cd(m: M, a: Extract<Act, { op: 'cd' }>): void {
  const dw = encodeCd({ T0SZ: a.tsz, TG0: 0, EPD1: 1, V: 1, IPS: 5, AA64: 1, R: 1, A: 1, ASET: 1, ASID: a.asid, TTB0: a.ttb, MAIR0: 0xff });
  if (a.junk) dw[3] = 0xdead_beefn;
  for (let i = 0; i < dw.length; i++) hostWrite(m, a.at + BigInt(i * 8), dw[i]);
}

function ownOp(m: M, a: Extract<Act, { op: 'own' }>): void {
  const h = (a.recent !== null || a.what === 'undo') && m.history.length > 0 ? m.history[(a.recent ?? 0) % m.history.length] : null;
  const what = a.what !== 'undo' ? a.what : h ? UNDO[h.op] : undefined;
  if (what === undefined) return;
  const p = h ? h.pfn : pfnOf(a.pa);
  const nr = h ? h.nr : a.nr;
  const vm = h ? h.vm : a.vm;
  const before: bigint[] = [];
  for (let i = 0n; i < BigInt(nr); i++) if (m.own.hostCanAccess(p + i)) before.push(p + i);
  const o = m.own;
  let r;
  switch (what) {
    case 'donate_guest':
      r = o.hostDonateGuest(p, nr, vm);
      break;
    case 'return_guest':
      r = o.guestReturnHost(p, nr, vm);
      break;
    case 'share_hyp':
      r = o.hostShareHyp(p, nr);
      break;
    case 'unshare_hyp':
      r = o.hostUnshareHyp(p, nr);
      break;
    case 'donate_hyp':
      r = o.hostDonateHyp(p, nr);
      break;
    case 'share_guest':
      r = o.hostShareGuest(p, nr, vm);
      break;
    case 'unshare_guest':
      r = o.hostUnshareGuest(p, nr, vm);
      break;
  }
  if (!r.ok) return;
  m.history.push({ op: what, pfn: p, nr, vm });
  if (m.history.length > 8) m.history.shift();
  // Pages the host lost: their contents must not change while someone else owns them (no host write, no MSI, no event).
  for (const q of before) {
    if (m.own.hostCanAccess(q)) continue;
    if (m.guarded.size < 64) m.guarded.set(q, pageHash(m.mem, q));
    m.donated.push(q << 12n);
    if (m.donated.length > 4) m.donated.shift();
  }
}

function step(m: M, a: Act): void {
  switch (a.op) {
    case 'setup':
      setup(m, a);
      break;
    case 'mmioW':
      m.port.write(a.off, a.value);
      break;
    case 'mmioR':
      m.port.read(a.off);
      break;
    case 'ack':
      w(m, REG.GERRORN, m.port.read(REG.GERROR));
      break;
    case 'ste': {
      const addr = hostSteAddr(m, m.hyp.virtualRegs(), a.sid);
      if (addr !== null) for (let i = 0; i < 8; i++) hostWrite(m, addr + BigInt(i * 8), a.dw[i]);
      const sid = (a.sid < 0 ? 0xffff_ffff : a.sid) >>> 0;
      const c: Command | null =
        a.cfgi === 'ste'
          ? { op: 'CMD_CFGI_STE', sid, leaf: true }
          : a.cfgi === 'range'
            ? { op: 'CMD_CFGI_STE_RANGE', sid, range: 4 }
            : a.cfgi === 'all'
              ? { op: 'CMD_CFGI_ALL' }
              : null;
      if (c) issue(m, [encodeCommand(c), encodeCommand({ op: 'CMD_SYNC', cs: 0, msh: 0, msiattr: 0, msidata: 0, msiaddr: 0n })], null, a.viaDriver, false);
      break;
    }
    case 'l1std': {
      const v = m.hyp.virtualRegs();
      hostWrite(m, (v.strtabBase & 0x000f_ffff_ffff_ffc0n) + BigInt(a.idx) * 8n, encodeL1std({ span: a.span, l2ptr: a.l2 }));
      break;
    }
    case 'chain':
      chain(m, a);
      break;
    case 'cd':
      cd(m, a);
      break;
    case 'mem':
      hostWrite(m, a.addr, a.value);
      break;
    case 'cmds':
      issue(m, a.cmds, a.prod, a.viaDriver, a.sync);
      break;
    case 'own':
      ownOp(m, a);
      break;
    case 'topUp':
      m.hyp.topUp(a.pages);
      break;
    case 'dma': {
      const r = m.smmu.translate({ sid: a.sid, ssid: a.ssid, iova: a.iova, access: a.access, priv: false });
      if (r.kind === 'bypass') throw new Error(`DMA from SID ${a.sid} bypassed translation`);
      if (r.kind === 'ok' && !hostCan(m, r.pa)) throw new Error(`DMA from SID ${a.sid} reached 0x${r.pa.toString(16)}, owned by ${JSON.stringify(m.own.owner(pfnOf(r.pa)))}`);
      break;
    }
    case 'poll':
      m.hyp.pollEvents();
      break;
    case 'drainPool':
      while (m.hyp.pool.freeBytes > BigInt(a.keep) * K4 && m.hyp.pool.allocN(4096) !== null);
      break;
    case 'map': {
      const d = m.doms[a.dom % m.doms.length];
      if (d) driverOp(m, () => void m.drv?.map(d, a.iova, a.pa, BigInt(a.pages) * K4, a.prot));
      break;
    }
    case 'unmap': {
      const d = m.doms[a.dom % m.doms.length];
      if (!d) break;
      driverOp(m, () => {
        if (!a.queued) m.drv?.unmap(d, a.iova, BigInt(a.pages) * K4);
        else {
          m.drv?.unmapQueued(d, a.iova, BigInt(a.pages) * K4);
          m.drv?.flushQueue(d);
        }
      });
      break;
    }
    case 'attach': {
      const d = m.doms[a.dom % m.doms.length];
      if (d) driverOp(m, () => m.drv?.attach(a.sid, d, a.ssid ? { ssid: a.ssid, pasidBits: 2 } : {}));
      break;
    }
    case 'detach':
      driverOp(m, () => m.drv?.detach(a.sid, a.ssid ? { ssid: a.ssid } : {}));
      break;
    case 'alloc':
      driverOp(m, () => {
        const d = m.drv?.allocDomain('s1');
        if (d) m.doms.push(d);
      });
      break;
    case 'free': {
      const i = a.dom % m.doms.length;
      const d = m.doms[i];
      if (d && m.doms.length > 1)
        driverOp(m, () => {
          m.drv?.freeDomain(d);
          m.doms.splice(i, 1);
        });
      break;
    }
    case 'gerror':
      driverOp(m, () => {
        m.drv?.handleGerror();
        m.drv?.drainEvents();
      });
      break;
  }
}

// ---------------------------------------------------------------------------
// Checks after every step

/**
 * Every valid STE of the real stream table (read from memory as the SMMU
 * would, like invariants.ts's liveStes, but looking at dword 0 first so that
 * the many abort STEs cost one read each) aborts or uses the hyp's stage 2.
 */
function realSteViolations(m: M): string[] {
  const out: string[] = [];
  const s2 = encodeSte(m.hyp.s2SteFields);
  const mem = m.mem;
  const check = (addr: bigint, sid: number): void => {
    if (!mem.peek(Number(addr))) return;
    const lo = mem.lo;
    if ((lo & 1) === 0) return;
    const cfg = (lo >>> 1) & 7;
    if (cfg < 0b100) return;
    if (cfg === 0b100) out.push(`real STE ${sid} bypasses`);
    else if (cfg === 0b101) out.push(`real STE ${sid} is stage-1 only`);
    else if (mem.peek64(addr + 16n) !== s2[2] || mem.peek64(addr + 24n) !== s2[3]) out.push(`real STE ${sid} (Config ${cfg.toString(2)}) does not use the hyp's stage 2`);
  };
  const cfg = strtabCfg(m.smmu.strtabBaseCfg);
  const log2 = Math.min(cfg.log2size, m.smmu.f.sidsize);
  const base = m.smmu.strtabBase & 0x000f_ffff_ffff_ffc0n;
  if (cfg.fmt === 1 && m.smmu.f.stLevel2) {
    const split = [6, 8, 10].includes(cfg.split) ? cfg.split : 6;
    for (let i = 0; i < 2 ** Math.max(log2 - split, 0); i++) {
      const l1 = mem.peek64(base + BigInt(i * 8));
      if (l1 === undefined) continue;
      const { span, l2ptr } = decodeL1std(l1);
      if (span === 0 || span > split + 1) continue;
      for (let j = 0; j < 2 ** (span - 1); j++) check(l2ptr + BigInt(j * 64), i * 2 ** split + j);
    }
  } else {
    for (let sid = 0; sid < 2 ** log2; sid++) check(base + BigInt(sid) * 64n, sid);
  }
  return out;
}

/**
 * Every check. `full`: also invariants.ts's checkInvariants (it decodes every
 * valid real STE and walks the stage 2 once per translating STE: a few ms).
 * Without it, the structural check below still covers what it proves, given
 * NestedHyp.checkInvariants (the hyp's stage 2 maps host pages only): every
 * valid real STE aborts or uses exactly the hyp's stage 2.
 */
function violations(m: M, full: boolean): string[] {
  const out: string[] = [];
  if (m.hypError) out.push(`an exception escaped the hyp: ${String(m.hypError.e)}`);
  out.push(...m.hyp.checkInvariants().map((s) => `NestedHyp: ${s}`));
  if (full) {
    const inv = checkInvariants(m.smmu, m.own, { pools: [m.hyp.pool], limit: 5 });
    if (!inv.ok) out.push(...inv.violations.map((v) => `invariants.ts: ${v.message}`));
  }
  out.push(...realSteViolations(m));
  // The real SMMU is the hyp's.
  const lay = m.hyp.driver.layout();
  if (!m.smmu.smmuEnabled) out.push('the real SMMU is disabled');
  if (m.smmu.strtabBase !== m.realStrtab || (m.smmu.strtabBase & 0x000f_ffff_ffff_ffc0n) !== lay.strtab) out.push(`the real STRTAB_BASE changed to 0x${m.smmu.strtabBase.toString(16)}`);
  if (m.smmu.cmdqBase !== m.realCmdq) out.push(`the real CMDQ_BASE changed to 0x${m.smmu.cmdqBase.toString(16)}`);
  if (m.smmu.gbpa !== m.realGbpa) out.push(`the real GBPA changed to 0x${m.smmu.gbpa.toString(16)}`);
  if (m.hyp.counters.realCerrors !== 0) out.push(`${m.hyp.counters.realCerrors} CERROR(s) on the real command queue: the filter passed an illegal command`);
  if (m.smmu.stats.msiWrites !== 0) out.push(`${m.smmu.stats.msiWrites} MSI write(s) by the real SMMU`);
  // Pages the host gave away keep their contents.
  for (const [p, h] of m.guarded) {
    if (m.own.hostCanAccess(p)) {
      m.guarded.delete(p);
      continue;
    }
    if (pageHash(m.mem, p) !== h) out.push(`page 0x${(p << 12n).toString(16)} (owned by ${JSON.stringify(m.own.owner(p))}) was written`);
  }
  // Probe DMAs.
  const addrs = [IOVA, IOVA + 0x10_0000n, BUF, HOST_CD, POOL, RAM_END - K4, ...m.donated];
  for (const sid of PROBE_SIDS) {
    for (const ssid of sid === 9 ? [undefined, 1] : [undefined]) {
      for (const a of addrs) {
        const r = m.smmu.translate({ sid, ssid, iova: a + 0x40n, access: 'write', priv: false });
        if (r.kind === 'bypass') out.push(`SID ${sid} bypasses translation`);
        else if (r.kind === 'ok' && !hostCan(m, r.pa)) out.push(`SID ${sid} SSID ${String(ssid)} reaches 0x${r.pa.toString(16)} at IOVA 0x${a.toString(16)}, owned by ${JSON.stringify(m.own.owner(pfnOf(r.pa)))}`);
      }
    }
  }
  return out;
}

const show = (x: unknown): string => JSON.stringify(x, (_k, v: unknown) => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v));

/** Run the steps, checking after each; invariants.ts after every `fullEvery`-th step and after the last. */
function run(m: M, acts: readonly Act[], fullEvery: number): void {
  acts.forEach((a, i) => {
    try {
      step(m, a);
    } catch (e) {
      throw new Error(`step ${i} ${show(a)} threw: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`, { cause: e });
    }
    m.stats.steps++;
    const v = violations(m, (i + 1) % fullEvery === 0 || i === acts.length - 1);
    if (v.length > 0) throw new Error(`after step ${i} ${show(a)}:\n${v.slice(0, 6).join('\n')}`);
  });
}

// ---------------------------------------------------------------------------

/** Property 2's body: init the host driver, check, run. */
function runDeep(mo: MachineOpts, acts: readonly Act[], fullEvery: number, totals: Record<string, number>): void {
  const m = newMachine(mo);
  initHost(m);
  const v0 = violations(m, fullEvery === 1);
  if (v0.length > 0) throw new Error(`after init:\n${v0.join('\n')}`);
  run(m, acts, fullEvery);
  totals.nested += m.hyp.shadowInfo().filter((x) => x.shadow === 'nested').length;
  totals.steps += m.stats.steps;
  totals.s2Unmaps += m.hyp.counters.s2Unmaps;
  totals.hostErrors += m.stats.hostErrors;
  m.hyp.dispose();
}

describe('NestedHyp fuzz: a malicious host', () => {
  it('fuzz: raw MMIO, STEs, commands, ownership and DMA from a bare machine keep every invariant (invariants.ts included) after every step', () => {
    const totals = { skippedWrites: 0, steps: 0, forged: 0, cerrors: 0, shadows: 0 };
    fc.assert(
      fc.property(arbRawSeq, ([mo, doSetup, acts]) => {
        const m = newMachine(mo);
        const seq: Act[] = doSetup ? [{ op: 'setup', cfg: 6, l1: false, cmdqLog2: 6, evtqLog2: 4, stBase: HOST_ST }, ...acts] : acts;
        run(m, seq, 1);
        m.hyp.dispose();
        totals.skippedWrites += m.stats.skippedWrites;
        totals.steps += m.stats.steps;
        totals.forged += m.hyp.counters.steRejected;
        totals.cerrors += m.hyp.counters.hostCerrors;
        totals.shadows += m.hyp.counters.steWrites;
      }),
      { numRuns: fuzzRuns(400), seed: fuzzSeed(1) },
    );
    // The fuzzer reaches the interesting paths (not only early rejections).
    expect(totals.forged).toBeGreaterThan(0);
    expect(totals.cerrors).toBeGreaterThan(0);
    expect(totals.shadows).toBeGreaterThan(0);
  }, fuzzTimeout(60_000));

  // invariants.ts costs a few ms per call in this state (it decodes every valid real STE and walks the
  // stage 2 once per translating STE), so the 400-run property runs it every 10th step and after the last,
  // with the structural real-STE check every step; the 50-run one runs it after every step.
  it('fuzz: from an initialised host driver (S1 domains attached and mapped), the same attacks plus driver operations keep every invariant', () => {
    const totals = { nested: 0, steps: 0, s2Unmaps: 0, hostErrors: 0 };
    fc.assert(
      fc.property(arbDeepSeq, ([mo, acts]) => runDeep(mo, acts, 10, totals)),
      { numRuns: fuzzRuns(400), seed: fuzzSeed(2) },
    );
    expect(totals.nested).toBeGreaterThan(0);
    expect(totals.s2Unmaps).toBeGreaterThan(0);
  }, fuzzTimeout(60_000));

  it('fuzz: from an initialised host driver, invariants.ts after every step', () => {
    const totals = { nested: 0, steps: 0, s2Unmaps: 0, hostErrors: 0 };
    fc.assert(
      fc.property(arbDeepSeq, ([mo, acts]) => runDeep(mo, acts, 1, totals)),
      { numRuns: fuzzRuns(50), seed: fuzzSeed(3) },
    );
    expect(totals.nested).toBeGreaterThan(0);
  }, fuzzTimeout(60_000));
});
