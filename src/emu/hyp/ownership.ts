/**
 * Page ownership as pKVM keeps it: the host / hyp / guest page-state machine of
 * arch/arm64/kvm/hyp/nvhe/mem_protect.c, at 4 KiB granularity over the
 * machine's RAM and MMIO ranges.
 *
 * Every tracked page has, per address space ('host', 'hyp', each guest VM
 * handle), one of PKVM_PAGE_OWNED, PKVM_PAGE_SHARED_OWNED,
 * PKVM_PAGE_SHARED_BORROWED or PKVM_NOPAGE. The model keeps, per page, one
 * owner and at most one borrower, which makes pKVM's invariants structural:
 * a page is OWNED by at most one space, and SHARED_OWNED in one space means
 * SHARED_BORROWED in exactly one other. Two counters ride along: the DMA
 * refcount (pages the host has mapped in an IOMMU, paravirt design) and the
 * hyp pin count (hyp_pin_shared_mem on pages the host shares with it).
 *
 * Storage is a sorted list of maximal runs of pages in identical state (kept
 * in small blocks), so boot over gigabytes of RAM is one run per declared
 * range, a transition over n contiguous same-state pages is O(1) in n, and
 * cost grows only slowly with fragmentation (~1M single-page ops/s with
 * thousands of runs).
 *
 * Transitions validate everything before changing anything (all-or-nothing)
 * and never throw for bad arguments; they return an errno as pKVM would:
 *   EINVAL  bad arguments: non-integer / negative pfn, zero pages, a range that
 *           overflows the 52-bit space, unaligned byte ranges (applyBytes),
 *           a page that is neither RAM nor MMIO, a range mixing RAM and MMIO,
 *           an MMIO page given to a RAM-only transition. MMIO cannot be
 *           refcounted: dma_get/dma_put on MMIO is EINVAL (pKVM maps host MMIO
 *           without a refcount; a hyp doing that checks hostOwnsExclusively()).
 *   EPERM   a page is in the wrong state (also a DMA refcount / hyp pin
 *           underflow: that would be a hyp bug, refused rather than corrupting).
 *   EBUSY   the page is pinned: DMA refcount > 0 (share / donate) or hyp pins
 *           > 0 (host_unshare_hyp).
 * Pages are checked in ascending order, the state (EPERM) before the pin
 * (EBUSY) for each; the first failing page is reported.
 *
 * MMIO: at boot the host owns it (flagged mmio). Only host_donate_hyp /
 * hyp_donate_host accept MMIO (the hyp claiming the SMMU's registers at
 * de-privilege); sharing, guest donation and DMA refcounting are RAM only.
 *
 * pKVM differences, on purpose: pKVM reports a non-zero refcount as EINVAL
 * (the brief asks for EBUSY) and non-memory as EPERM (here "not RAM" is
 * EINVAL); pKVM's host_share_guest also needs a guest IPA, not modelled here.
 */

import { hex } from '../bits';
import type { PhysicalMemory, RamRange } from '../memory';

export const PAGE_SHIFT = 12;
export const PAGE_SIZE = 1 << PAGE_SHIFT;
/** First page frame number past the 52-bit physical address space. */
export const MAX_PFN = 2 ** (52 - PAGE_SHIFT);
/** Largest DMA refcount / hyp pin count; one more is refused (EPERM). */
export const PIN_MAX = 0xffff_ffff;

export const PKVM_PAGE_OWNED = 'PKVM_PAGE_OWNED';
export const PKVM_PAGE_SHARED_OWNED = 'PKVM_PAGE_SHARED_OWNED';
export const PKVM_PAGE_SHARED_BORROWED = 'PKVM_PAGE_SHARED_BORROWED';
export const PKVM_NOPAGE = 'PKVM_NOPAGE';
export type PageState =
  | typeof PKVM_PAGE_OWNED
  | typeof PKVM_PAGE_SHARED_OWNED
  | typeof PKVM_PAGE_SHARED_BORROWED
  | typeof PKVM_NOPAGE;

/** An address space: the host, the hypervisor, or a guest by VM handle. */
export type Space = 'host' | 'hyp' | { guest: number };
/** Owner of a page; 'none' for pages outside every RAM / MMIO range. */
export type Owner = Space | 'none';

export type Errno = 'EPERM' | 'EINVAL' | 'EBUSY';
export interface OwnershipError {
  ok: false;
  error: Errno;
  reason: string;
  /** The first offending page, when one page is to blame. */
  pfn?: number;
}
export type OwnershipResult = { ok: true } | OwnershipError;

export const OWNERSHIP_OPS = [
  'host_share_hyp',
  'host_unshare_hyp',
  'host_donate_hyp',
  'hyp_donate_host',
  'host_donate_guest',
  'guest_return_host',
  'host_share_guest',
  'host_unshare_guest',
  'dma_get',
  'dma_put',
  'hyp_pin',
  'hyp_unpin',
] as const;
export type OwnershipOp = (typeof OWNERSHIP_OPS)[number];
/** Transitions that take a guest VM handle. */
export const GUEST_OPS: ReadonlySet<OwnershipOp> = new Set<OwnershipOp>([
  'host_donate_guest',
  'guest_return_host',
  'host_share_guest',
  'host_unshare_guest',
]);

/** How a successful transition changed the host's access to the pages. */
export type HostAccessChange = 'lost' | 'gained' | 'unchanged';

/** Passed to onChange listeners after every successful transition. */
export interface OwnershipChange {
  op: OwnershipOp;
  pfn: number;
  nr: number;
  base: bigint;
  size: bigint;
  vm?: number;
  /** 'lost' (donated away: unmap from a host-identity S2), 'gained' (returned: map back), or 'unchanged'. */
  hostAccess: HostAccessChange;
}
export type OwnershipListener = (change: OwnershipChange) => void;

export interface GuestPageState {
  vm: number;
  state: PageState;
}

/** Everything known about one page. */
export interface PageInfo {
  pfn: number;
  /** In a declared RAM or MMIO range. */
  tracked: boolean;
  mmio: boolean;
  owner: Owner;
  /** The other party of a share, or null. */
  sharedWith: Space | null;
  host: PageState;
  hyp: PageState;
  /** Guests whose state is not PKVM_NOPAGE (at most one). */
  guests: GuestPageState[];
  dmaRefcount: number;
  hypPins: number;
}

/** A maximal range of pages with the same owner, share, pinned flags and mmio flag (the UI's ownership map). */
export interface OwnershipRegion {
  pfn: number;
  nr: number;
  base: bigint;
  size: bigint;
  owner: Owner;
  sharedWith: Space | null;
  mmio: boolean;
  /** Some DMA refcount > 0 (all pages in the region have one). */
  dmaPinned: boolean;
  maxDmaRefcount: number;
  hypPinned: boolean;
}

/** JSON-able run (exact counts), as produced by snapshot(). */
export interface OwnershipRunJson {
  base: string;
  size: string;
  pfn: number;
  nr: number;
  owner: Owner;
  sharedWith: Space | null;
  host: PageState;
  hyp: PageState;
  guests: GuestPageState[];
  mmio: boolean;
  dmaRefcount: number;
  hypPins: number;
}

export interface OwnershipSnapshot {
  pageSize: number;
  runs: OwnershipRunJson[];
}

export interface OwnershipStats {
  trackedPages: number;
  ramPages: number;
  mmioPages: number;
  hostPages: number;
  hypPages: number;
  /** Pages owned per guest VM handle. */
  guestPages: Record<number, number>;
  sharedPages: number;
  dmaPinnedPages: number;
  hypPinnedPages: number;
}

export interface OwnershipLayout {
  /** RAM ranges; null: the whole 52-bit space is RAM (minus the MMIO ranges). */
  ram: readonly RamRange[] | null;
  mmio?: readonly RamRange[];
}

// Space codes inside runs: guests are their (non-negative) VM handle.
const HOST = -1;
const HYP = -2;
const NONE = -3;

interface Run {
  s: number; // first pfn
  e: number; // pfn past the end
  owner: number;
  borrower: number; // NONE unless shared
  dma: number;
  pins: number;
  mmio: boolean;
}

type Check = readonly [Errno, string] | null;

interface OpSpec {
  ramOnly: boolean;
  hostAccess: HostAccessChange;
  check(r: Run, vm: number): Check;
  apply(r: Run, vm: number): void;
}

function spaceName(code: number): string {
  return code === HOST ? 'host' : code === HYP ? 'hyp' : code === NONE ? 'nobody' : `guest ${code}`;
}

function stateIn(r: Run, code: number): PageState {
  if (r.owner === code) return r.borrower === NONE ? PKVM_PAGE_OWNED : PKVM_PAGE_SHARED_OWNED;
  if (r.borrower === code) return PKVM_PAGE_SHARED_BORROWED;
  return PKVM_NOPAGE;
}

function describe(r: Run): string {
  return r.borrower === NONE
    ? `owned by ${spaceName(r.owner)}`
    : `owned by ${spaceName(r.owner)}, shared with ${spaceName(r.borrower)}`;
}

function decode(code: number): Owner {
  return code === HOST ? 'host' : code === HYP ? 'hyp' : code === NONE ? 'none' : { guest: code };
}

function decodeSpace(code: number): Space | null {
  return code === NONE ? null : (decode(code) as Space);
}

function encode(space: Space): number {
  return space === 'host' ? HOST : space === 'hyp' ? HYP : space.guest;
}

function hostExclusive(r: Run, want: string): Check {
  if (r.owner === HOST && r.borrower === NONE) return null;
  return ['EPERM', `host state is ${stateIn(r, HOST)} (${describe(r)}), ${want} needs PKVM_PAGE_OWNED`];
}

function notDmaPinned(r: Run, what: string): Check {
  return r.dma > 0 ? ['EBUSY', `DMA refcount ${r.dma}: the page is mapped in an IOMMU and cannot be ${what}`] : null;
}

const OPS: Record<OwnershipOp, OpSpec> = {
  host_share_hyp: {
    ramOnly: true,
    hostAccess: 'unchanged',
    check: (r) => hostExclusive(r, 'sharing') ?? notDmaPinned(r, 'shared'),
    apply: (r) => {
      r.borrower = HYP;
    },
  },
  host_unshare_hyp: {
    ramOnly: true,
    hostAccess: 'unchanged',
    check: (r) =>
      r.owner !== HOST || r.borrower !== HYP
        ? ['EPERM', `host ${stateIn(r, HOST)} / hyp ${stateIn(r, HYP)} (${describe(r)}): not shared by host with hyp`]
        : r.pins > 0
          ? ['EBUSY', `hyp holds ${r.pins} pin(s) on the page`]
          : null,
    apply: (r) => {
      r.borrower = NONE;
    },
  },
  host_donate_hyp: {
    ramOnly: false,
    hostAccess: 'lost',
    check: (r) => hostExclusive(r, 'donation') ?? notDmaPinned(r, 'donated'),
    apply: (r) => {
      r.owner = HYP;
    },
  },
  hyp_donate_host: {
    ramOnly: false,
    hostAccess: 'gained',
    check: (r) =>
      r.owner === HYP && r.borrower === NONE
        ? null
        : ['EPERM', `hyp state is ${stateIn(r, HYP)} (${describe(r)}), donation needs PKVM_PAGE_OWNED`],
    apply: (r) => {
      r.owner = HOST;
    },
  },
  host_donate_guest: {
    ramOnly: true,
    hostAccess: 'lost',
    check: (r) => hostExclusive(r, 'donation') ?? notDmaPinned(r, 'donated'),
    apply: (r, vm) => {
      r.owner = vm;
    },
  },
  guest_return_host: {
    ramOnly: true,
    hostAccess: 'gained',
    check: (r, vm) =>
      r.owner === vm && r.borrower === NONE
        ? null
        : ['EPERM', `guest ${vm} state is ${stateIn(r, vm)} (${describe(r)}), return needs PKVM_PAGE_OWNED`],
    apply: (r) => {
      r.owner = HOST;
    },
  },
  host_share_guest: {
    ramOnly: true,
    hostAccess: 'unchanged',
    check: (r) => hostExclusive(r, 'sharing') ?? notDmaPinned(r, 'shared'),
    apply: (r, vm) => {
      r.borrower = vm;
    },
  },
  host_unshare_guest: {
    ramOnly: true,
    hostAccess: 'unchanged',
    check: (r, vm) =>
      r.owner === HOST && r.borrower === vm
        ? null
        : ['EPERM', `host ${stateIn(r, HOST)} / guest ${vm} ${stateIn(r, vm)} (${describe(r)}): not shared by host with guest ${vm}`],
    apply: (r) => {
      r.borrower = NONE;
    },
  },
  dma_get: {
    ramOnly: true,
    hostAccess: 'unchanged',
    check: (r) =>
      hostExclusive(r, 'DMA mapping') ?? (r.dma >= PIN_MAX ? ['EPERM', `DMA refcount would overflow`] : null),
    apply: (r) => {
      r.dma++;
    },
  },
  dma_put: {
    ramOnly: true,
    hostAccess: 'unchanged',
    check: (r) => (r.dma > 0 ? null : ['EPERM', `DMA refcount is 0 (${describe(r)}): refcount underflow (hyp bug)`]),
    apply: (r) => {
      r.dma--;
    },
  },
  hyp_pin: {
    ramOnly: true,
    hostAccess: 'unchanged',
    check: (r) =>
      r.owner !== HOST || r.borrower !== HYP
        ? ['EPERM', `hyp state is ${stateIn(r, HYP)} (${describe(r)}), pinning needs host SHARED_OWNED / hyp SHARED_BORROWED`]
        : r.pins >= PIN_MAX
          ? ['EPERM', `hyp pin count would overflow`]
          : null,
    apply: (r) => {
      r.pins++;
    },
  },
  hyp_unpin: {
    ramOnly: true,
    hostAccess: 'unchanged',
    check: (r) => (r.pins > 0 ? null : ['EPERM', `hyp pin count is 0 (${describe(r)}): unpin underflow (hyp bug)`]),
    apply: (r) => {
      r.pins--;
    },
  },
};

function fail(error: Errno, reason: string, pfn?: number): OwnershipError {
  return pfn === undefined ? { ok: false, error, reason } : { ok: false, error, reason, pfn };
}

const OK: OwnershipResult = Object.freeze({ ok: true }) as OwnershipResult;

/** Convert a number / bigint argument to a safe integer, or null. */
function toInt(v: number | bigint): number | null {
  if (typeof v === 'bigint') return v >= 0n && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : null;
  return Number.isSafeInteger(v) && v >= 0 ? v : null;
}

/** Validate a page range; [start, end) pfns or an EINVAL. */
function pageRange(pfn: number | bigint, nr: number | bigint): readonly [number, number] | OwnershipError {
  const tooBig = (v: number | bigint) => (typeof v === 'bigint' ? v >= BigInt(MAX_PFN) : v >= MAX_PFN);
  if (tooBig(pfn) || tooBig(nr)) {
    return fail('EINVAL', `range pfn ${String(pfn)} + ${String(nr)} pages overflows the 52-bit physical address space`);
  }
  const s = toInt(pfn);
  if (s === null) return fail('EINVAL', `pfn ${String(pfn)} is not a non-negative integer`);
  const n = toInt(nr);
  if (n === null) return fail('EINVAL', `page count ${String(nr)} is not a non-negative integer`);
  if (n === 0) return fail('EINVAL', 'zero pages');
  if (s >= MAX_PFN || n > MAX_PFN - s) {
    return fail('EINVAL', `range pfn ${hex(s)} + ${n} pages overflows the 52-bit physical address space`);
  }
  return [s, s + n];
}

/**
 * Convert a byte range to pages: EINVAL when unaligned, empty or past the
 * 52-bit space (or wrapping 64 bits).
 */
export function bytesToPages(
  pa: bigint | number,
  size: bigint | number,
): { ok: true; pfn: number; nr: number } | OwnershipError {
  const a = typeof pa === 'bigint' ? pa : Number.isSafeInteger(pa) ? BigInt(pa) : -1n;
  const sz = typeof size === 'bigint' ? size : Number.isSafeInteger(size) ? BigInt(size) : -1n;
  if (a < 0n || sz < 0n) return fail('EINVAL', `address ${String(pa)} / size ${String(size)} not a non-negative integer`);
  if (sz === 0n) return fail('EINVAL', 'zero pages');
  const mask = BigInt(PAGE_SIZE - 1);
  if ((a & mask) !== 0n || (sz & mask) !== 0n) {
    return fail('EINVAL', `range ${hex(a)}+${hex(sz)} is not 4 KiB aligned`);
  }
  const end = a + sz;
  if (end > 1n << 52n) return fail('EINVAL', `range ${hex(a)}+${hex(sz)} overflows the 52-bit physical address space`);
  return { ok: true, pfn: Number(a >> BigInt(PAGE_SHIFT)), nr: Number(sz >> BigInt(PAGE_SHIFT)) };
}

function toVm(vm: number | bigint | undefined): number | null {
  if (vm === undefined) return null;
  return toInt(vm);
}

function pfnToPa(pfn: number): bigint {
  return BigInt(pfn) << BigInt(PAGE_SHIFT);
}

function sameState(a: Run, b: Run): boolean {
  return a.owner === b.owner && a.borrower === b.borrower && a.dma === b.dma && a.pins === b.pins && a.mmio === b.mmio;
}

/** Page ranges [s, e) from byte ranges; throws RangeError for a bad layout (a configuration error). */
function layoutRanges(ranges: readonly RamRange[], what: string): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const r of ranges) {
    const b = bytesToPages(r.base, r.size);
    if (!b.ok) throw new RangeError(`${what} range ${hex(r.base)}+${hex(r.size)}: ${b.reason}`);
    out.push([b.pfn, b.pfn + b.nr]);
  }
  out.sort((x, y) => x[0] - y[0]);
  // Union overlapping / adjacent ranges.
  const merged: Array<[number, number]> = [];
  for (const [s, e] of out) {
    const last = merged[merged.length - 1];
    if (last && s <= last[1]) last[1] = Math.max(last[1], e);
    else merged.push([s, e]);
  }
  return merged;
}

/** Target number of runs per block of the blocked run list; a block splits past 2 * BLOCK. */
const BLOCK = 16;

export class PageOwnership {
  /**
   * The runs, sorted and maximal (no two contiguous runs in the same state),
   * kept as a list of small blocks so a split or merge moves O(BLOCK + blocks)
   * entries instead of O(runs). Blocks are never empty.
   */
  private blocks: Run[][] = [];
  /** Cursor scratch (block, index within block), set by seek(). */
  private cb = 0;
  private ck = 0;
  private readonly listeners = new Set<OwnershipListener>();

  /**
   * @param layout the RAM and MMIO ranges (4 KiB aligned). Throws RangeError
   *   for unaligned or empty ranges and for MMIO overlapping RAM.
   */
  constructor(layout: OwnershipLayout) {
    const mmio = layoutRanges(layout.mmio ?? [], 'MMIO');
    let ram: Array<[number, number]>;
    if (layout.ram === null) {
      // The whole space is RAM except the MMIO holes.
      ram = [];
      let cur = 0;
      for (const [s, e] of mmio) {
        if (s > cur) ram.push([cur, s]);
        cur = e;
      }
      if (cur < MAX_PFN) ram.push([cur, MAX_PFN]);
    } else {
      ram = layoutRanges(layout.ram, 'RAM');
      for (const [ms, me] of mmio) {
        for (const [rs, re] of ram) {
          if (ms < re && rs < me) {
            throw new RangeError(`MMIO range ${hex(pfnToPa(ms))}-${hex(pfnToPa(me))} overlaps RAM`);
          }
        }
      }
    }
    const all: Run[] = [
      ...ram.map(([s, e]) => ({ s, e, owner: HOST, borrower: NONE, dma: 0, pins: 0, mmio: false })),
      ...mmio.map(([s, e]) => ({ s, e, owner: HOST, borrower: NONE, dma: 0, pins: 0, mmio: true })),
    ];
    all.sort((a, b) => a.s - b.s);
    this.setRuns(all);
  }

  /** Ownership over a PhysicalMemory's RAM ranges (null: all of the 52-bit space) plus MMIO ranges. */
  static fromMemory(mem: PhysicalMemory, mmio: readonly RamRange[] = []): PageOwnership {
    return new PageOwnership({ ram: mem.ramRanges, mmio });
  }

  // ---------------------------------------------------------------- listeners

  /** Register a listener called after every successful transition; returns an unsubscribe function. */
  onChange(listener: OwnershipListener): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  // -------------------------------------------------------------- transitions

  /** host OWNED → host SHARED_OWNED + hyp SHARED_BORROWED (__pkvm_host_share_hyp). */
  hostShareHyp(pfn: number | bigint, nr: number | bigint = 1): OwnershipResult {
    return this.apply('host_share_hyp', pfn, nr);
  }

  /** Back to host OWNED; needs exactly the shared state and no hyp pins (__pkvm_host_unshare_hyp). */
  hostUnshareHyp(pfn: number | bigint, nr: number | bigint = 1): OwnershipResult {
    return this.apply('host_unshare_hyp', pfn, nr);
  }

  /** host OWNED exclusively, DMA refcount 0 → hyp OWNED, host NOPAGE (__pkvm_host_donate_hyp). RAM or MMIO. */
  hostDonateHyp(pfn: number | bigint, nr: number | bigint = 1): OwnershipResult {
    return this.apply('host_donate_hyp', pfn, nr);
  }

  /** hyp OWNED → host OWNED (__pkvm_hyp_donate_host). */
  hypDonateHost(pfn: number | bigint, nr: number | bigint = 1): OwnershipResult {
    return this.apply('hyp_donate_host', pfn, nr);
  }

  /** host OWNED exclusively, DMA refcount 0 → guest `vm` OWNED, host NOPAGE (__pkvm_host_donate_guest). */
  hostDonateGuest(pfn: number | bigint, nr: number | bigint, vm: number | bigint): OwnershipResult {
    return this.apply('host_donate_guest', pfn, nr, vm);
  }

  /** guest `vm` OWNED → host OWNED (reclaim on teardown, __pkvm_host_reclaim_page). */
  guestReturnHost(pfn: number | bigint, nr: number | bigint, vm: number | bigint): OwnershipResult {
    return this.apply('guest_return_host', pfn, nr, vm);
  }

  /** host OWNED exclusively, DMA refcount 0 → host SHARED_OWNED + guest SHARED_BORROWED (__pkvm_host_share_guest). */
  hostShareGuest(pfn: number | bigint, nr: number | bigint, vm: number | bigint): OwnershipResult {
    return this.apply('host_share_guest', pfn, nr, vm);
  }

  /** Back to host OWNED (__pkvm_host_unshare_guest). */
  hostUnshareGuest(pfn: number | bigint, nr: number | bigint, vm: number | bigint): OwnershipResult {
    return this.apply('host_unshare_guest', pfn, nr, vm);
  }

  /** DMA refcount++ on pages the host OWNs exclusively (__pkvm_host_use_dma). RAM only. */
  dmaGet(pfn: number | bigint, nr: number | bigint = 1): OwnershipResult {
    return this.apply('dma_get', pfn, nr);
  }

  /** DMA refcount-- (__pkvm_host_unuse_dma, after the IOTLB invalidation). Refuses to go below 0. */
  dmaPut(pfn: number | bigint, nr: number | bigint = 1): OwnershipResult {
    return this.apply('dma_put', pfn, nr);
  }

  /** hyp_pin_shared_mem: pin pages the host shares with the hyp (blocks host_unshare_hyp). */
  hypPin(pfn: number | bigint, nr: number | bigint = 1): OwnershipResult {
    return this.apply('hyp_pin', pfn, nr);
  }

  /** hyp_unpin_shared_mem. */
  hypUnpin(pfn: number | bigint, nr: number | bigint = 1): OwnershipResult {
    return this.apply('hyp_unpin', pfn, nr);
  }

  /** Same as apply() over a byte range (EINVAL when unaligned, empty or overflowing). */
  applyBytes(op: OwnershipOp, pa: bigint | number, size: bigint | number, vm?: number | bigint): OwnershipResult {
    const r = bytesToPages(pa, size);
    if (!r.ok) return r;
    return this.apply(op, r.pfn, r.nr, vm);
  }

  /**
   * Run one transition by its pKVM-style name over pages [pfn, pfn + nr):
   * check every page, then apply to all of them, then notify listeners.
   */
  apply(op: OwnershipOp, pfn: number | bigint, nr: number | bigint, vm?: number | bigint): OwnershipResult {
    const spec = Object.prototype.hasOwnProperty.call(OPS, op) ? OPS[op] : undefined;
    if (!spec) return fail('EINVAL', `unknown transition ${String(op)}`);
    let v = NONE;
    if (GUEST_OPS.has(op)) {
      const g = toVm(vm);
      if (g === null) return fail('EINVAL', `${op} needs a guest VM handle (non-negative integer), got ${String(vm)}`);
      v = g;
    }
    const range = pageRange(pfn, nr);
    if ('ok' in range) return range;
    const [s, e] = range;

    // Coverage and class checks over the whole range.
    this.seek(s);
    const b0 = this.cb;
    const k0 = this.ck;
    const r0 = this.cur();
    if (r0 === undefined || r0.s > s) return fail('EINVAL', `page ${hex(pfnToPa(s))} is neither RAM nor MMIO`, s);
    const mmio = r0.mmio;
    for (let cur = s; cur < e; this.next()) {
      const r = this.cur();
      if (r === undefined || r.s > cur) {
        return fail('EINVAL', `page ${hex(pfnToPa(cur))} is neither RAM nor MMIO`, cur);
      }
      if (r.mmio !== mmio) return fail('EINVAL', `range ${hex(pfnToPa(s))}-${hex(pfnToPa(e))} mixes RAM and MMIO`, cur);
      cur = r.e;
    }
    if (mmio && spec.ramOnly) {
      const why = op === 'dma_get' || op === 'dma_put' ? 'MMIO cannot be refcounted' : 'MMIO is not RAM';
      return fail('EINVAL', `${op}: page ${hex(pfnToPa(s))} is MMIO: ${why}`, s);
    }
    // State checks, page order.
    this.cb = b0;
    this.ck = k0;
    for (let r = this.cur(); r !== undefined && r.s < e; this.next(), r = this.cur()) {
      const c = spec.check(r, v);
      if (c) {
        const at = Math.max(r.s, s);
        return fail(c[0], `${op}: page ${hex(pfnToPa(at))}: ${c[1]}`, at);
      }
    }
    this.mutate(s, e, spec, v);
    if (this.listeners.size > 0) {
      const change: OwnershipChange = {
        op,
        pfn: s,
        nr: e - s,
        base: pfnToPa(s),
        size: pfnToPa(e - s),
        hostAccess: spec.hostAccess,
      };
      if (GUEST_OPS.has(op)) change.vm = v;
      for (const l of [...this.listeners]) l(change);
    }
    return OK;
  }

  // ------------------------------------------------------------------ queries

  /** Everything about one page (an untracked page reads as NOPAGE everywhere). */
  state(pfn: number | bigint): PageInfo {
    const p = toInt(pfn) ?? -1;
    const r = p >= 0 ? this.runAt(p) : undefined;
    if (!r) {
      return {
        pfn: p,
        tracked: false,
        mmio: false,
        owner: 'none',
        sharedWith: null,
        host: PKVM_NOPAGE,
        hyp: PKVM_NOPAGE,
        guests: [],
        dmaRefcount: 0,
        hypPins: 0,
      };
    }
    return {
      pfn: p,
      tracked: true,
      mmio: r.mmio,
      owner: decode(r.owner),
      sharedWith: decodeSpace(r.borrower),
      host: stateIn(r, HOST),
      hyp: stateIn(r, HYP),
      guests: guestStates(r),
      dmaRefcount: r.dma,
      hypPins: r.pins,
    };
  }

  /** A page's state in one address space. */
  stateIn(pfn: number | bigint, space: Space): PageState {
    const p = toInt(pfn);
    const r = p === null ? undefined : this.runAt(p);
    return r ? stateIn(r, encode(space)) : PKVM_NOPAGE;
  }

  owner(pfn: number | bigint): Owner {
    const p = toInt(pfn);
    const r = p === null ? undefined : this.runAt(p);
    return r ? decode(r.owner) : 'none';
  }

  /** Host OWNED, SHARED_OWNED or SHARED_BORROWED: what a host-identity stage-2 maps. */
  hostCanAccess(pfn: number | bigint): boolean {
    const p = toInt(pfn);
    const r = p === null ? undefined : this.runAt(p);
    return !!r && (r.owner === HOST || r.borrower === HOST);
  }

  /** Host OWNED and not shared (RAM or MMIO). */
  hostOwnsExclusively(pfn: number | bigint): boolean {
    const p = toInt(pfn);
    const r = p === null ? undefined : this.runAt(p);
    return !!r && r.owner === HOST && r.borrower === NONE;
  }

  dmaRefcount(pfn: number | bigint): number {
    const p = toInt(pfn);
    const r = p === null ? undefined : this.runAt(p);
    return r ? r.dma : 0;
  }

  isMmio(pfn: number | bigint): boolean {
    const p = toInt(pfn);
    const r = p === null ? undefined : this.runAt(p);
    return !!r && r.mmio;
  }

  isTracked(pfn: number | bigint): boolean {
    const p = toInt(pfn);
    return p !== null && this.runAt(p) !== undefined;
  }

  /** Number of internal runs (exact state); a measure of fragmentation. */
  get runCount(): number {
    let n = 0;
    for (const b of this.blocks) n += b.length;
    return n;
  }

  /**
   * Maximal ranges with the same owner, share, mmio flag, DMA-pinned and
   * hyp-pinned flags, in address order (untracked gaps are omitted).
   * Optionally restricted to pfns [from, to).
   */
  regions(from = 0, to = MAX_PFN): OwnershipRegion[] {
    const out: OwnershipRegion[] = [];
    this.seek(from);
    let cur: OwnershipRegion | null = null;
    let curEnd = -1;
    let curOwner = NONE;
    let curBorrower = NONE;
    for (let r = this.cur(); r !== undefined && r.s < to; this.next(), r = this.cur()) {
      const s = Math.max(r.s, from);
      const e = Math.min(r.e, to);
      const dmaPinned = r.dma > 0;
      const hypPinned = r.pins > 0;
      if (
        cur &&
        curEnd === s &&
        curOwner === r.owner &&
        curBorrower === r.borrower &&
        cur.mmio === r.mmio &&
        cur.dmaPinned === dmaPinned &&
        cur.hypPinned === hypPinned
      ) {
        cur.nr += e - s;
        cur.size = pfnToPa(cur.nr);
        if (r.dma > cur.maxDmaRefcount) cur.maxDmaRefcount = r.dma;
      } else {
        cur = {
          pfn: s,
          nr: e - s,
          base: pfnToPa(s),
          size: pfnToPa(e - s),
          owner: decode(r.owner),
          sharedWith: decodeSpace(r.borrower),
          mmio: r.mmio,
          dmaPinned,
          maxDmaRefcount: r.dma,
          hypPinned,
        };
        out.push(cur);
        curOwner = r.owner;
        curBorrower = r.borrower;
      }
      curEnd = e;
    }
    return out;
  }

  /** Page counts per owner and per flag (O(runs)). */
  stats(): OwnershipStats {
    const st: OwnershipStats = {
      trackedPages: 0,
      ramPages: 0,
      mmioPages: 0,
      hostPages: 0,
      hypPages: 0,
      guestPages: {},
      sharedPages: 0,
      dmaPinnedPages: 0,
      hypPinnedPages: 0,
    };
    for (const r of this.allRuns()) {
      const n = r.e - r.s;
      st.trackedPages += n;
      if (r.mmio) st.mmioPages += n;
      else st.ramPages += n;
      if (r.owner === HOST) st.hostPages += n;
      else if (r.owner === HYP) st.hypPages += n;
      else if (r.owner >= 0) st.guestPages[r.owner] = (st.guestPages[r.owner] ?? 0) + n;
      if (r.borrower !== NONE) st.sharedPages += n;
      if (r.dma > 0) st.dmaPinnedPages += n;
      if (r.pins > 0) st.hypPinnedPages += n;
    }
    return st;
  }

  /** Plain JSON-able data: the exact runs, addresses as hex strings. */
  snapshot(): OwnershipSnapshot {
    return {
      pageSize: PAGE_SIZE,
      runs: this.allRuns().map((r) => ({
        base: hex(pfnToPa(r.s)),
        size: hex(pfnToPa(r.e - r.s)),
        pfn: r.s,
        nr: r.e - r.s,
        owner: decode(r.owner),
        sharedWith: decodeSpace(r.borrower),
        host: stateIn(r, HOST),
        hyp: stateIn(r, HYP),
        guests: guestStates(r),
        mmio: r.mmio,
        dmaRefcount: r.dma,
        hypPins: r.pins,
      })),
    };
  }

  /** Deep copy of the state (listeners are not copied). */
  clone(): PageOwnership {
    const c = new PageOwnership({ ram: [] });
    c.blocks = this.blocks.map((b) =>
      b.map((r) => ({ s: r.s, e: r.e, owner: r.owner, borrower: r.borrower, dma: r.dma, pins: r.pins, mmio: r.mmio })),
    );
    return c;
  }

  // ---------------------------------------------------------------- internals

  private setRuns(runs: Run[]): void {
    this.blocks = [];
    for (let i = 0; i < runs.length; i += BLOCK) this.blocks.push(runs.slice(i, i + BLOCK));
  }

  private allRuns(): Run[] {
    return this.blocks.flat();
  }

  /** Put the cursor on the first run with e > p (cb === blocks.length when there is none). */
  private seek(p: number): void {
    const bl = this.blocks;
    let lo = 0;
    let hi = bl.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const blk = bl[mid];
      if (blk[blk.length - 1].e <= p) lo = mid + 1;
      else hi = mid;
    }
    this.cb = lo;
    this.ck = 0;
    if (lo === bl.length) return;
    const blk = bl[lo];
    let a = 0;
    let z = blk.length - 1; // blk[z].e > p
    while (a < z) {
      const m = (a + z) >>> 1;
      if (blk[m].e <= p) a = m + 1;
      else z = m;
    }
    this.ck = a;
  }

  private cur(): Run | undefined {
    const blk = this.blocks[this.cb];
    return blk === undefined ? undefined : blk[this.ck];
  }

  private next(): void {
    if (++this.ck >= this.blocks[this.cb].length) {
      this.cb++;
      this.ck = 0;
    }
  }

  private runAt(p: number): Run | undefined {
    this.seek(p);
    const r = this.cur();
    return r !== undefined && r.s <= p ? r : undefined;
  }

  /** Make p a run boundary. */
  private splitAt(p: number): void {
    this.seek(p);
    const r = this.cur();
    if (r === undefined || r.s >= p) return;
    const blk = this.blocks[this.cb];
    // Insert by hand after ck: Array.prototype.splice is slow on this hot path.
    const at = this.ck + 1;
    blk.push(r);
    for (let k = blk.length - 1; k > at; k--) blk[k] = blk[k - 1];
    blk[at] = { s: p, e: r.e, owner: r.owner, borrower: r.borrower, dma: r.dma, pins: r.pins, mmio: r.mmio };
    r.e = p;
    if (blk.length > 2 * BLOCK) this.blocks.splice(this.cb + 1, 0, blk.splice(BLOCK));
  }

  /** Remove the run at (b, k); drops an emptied block and folds a small block into its successor's place. */
  private removeAt(b: number, k: number): void {
    const blocks = this.blocks;
    const blk = blocks[b];
    for (let i = k + 1; i < blk.length; i++) blk[i - 1] = blk[i];
    blk.pop();
    if (blk.length === 0) {
      blocks.splice(b, 1);
    } else if (blk.length < BLOCK / 4 && b + 1 < blocks.length && blk.length + blocks[b + 1].length <= 2 * BLOCK) {
      for (const r of blocks[b + 1]) blk.push(r);
      blocks.splice(b + 1, 1);
    }
  }

  /** Apply a checked transition to the (fully covered) pages [s, e) and re-merge runs. */
  private mutate(s: number, e: number, spec: OpSpec, vm: number): void {
    this.splitAt(s);
    this.splitAt(e);
    this.seek(s);
    for (let r = this.cur(); r !== undefined && r.s < e; this.next(), r = this.cur()) spec.apply(r, vm);
    // Coalesce from the run just before s to the run starting at e. Removing
    // the later run of a pair never moves the earlier one (only the later
    // block shrinks, is dropped, or has its successor appended).
    this.seek(s > 0 ? s - 1 : 0);
    const blocks = this.blocks;
    let ab = this.cb;
    let ak = this.ck;
    while (ab < blocks.length) {
      const a = blocks[ab][ak];
      if (a.s >= e) break;
      let bb = ab;
      let bk = ak + 1;
      if (bk >= blocks[bb].length) {
        bb++;
        bk = 0;
      }
      if (bb >= blocks.length) break;
      const b = blocks[bb][bk];
      if (a.e === b.s && sameState(a, b)) {
        a.e = b.e;
        this.removeAt(bb, bk);
      } else {
        ab = bb;
        ak = bk;
      }
    }
  }
}

function guestStates(r: Run): GuestPageState[] {
  if (r.owner >= 0) return [{ vm: r.owner, state: stateIn(r, r.owner) }];
  if (r.borrower >= 0) return [{ vm: r.borrower, state: PKVM_PAGE_SHARED_BORROWED }];
  return [];
}
