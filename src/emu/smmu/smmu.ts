/**
 * The SMMUv3 device: register file, stream table and CD lookup with a
 * configuration cache, the IOTLB, the table walk, the command queue and the
 * event queue, all in emulated memory.
 *
 * translate() is the transaction path: SMMUEN/GBPA → STE (linear or 2-level
 * stream table) → CD (linear or 2-level CD table, through stage 2 when
 * nested) → IOTLB → walk → permission → result, or an architected event.
 * Nothing here trusts software: every structure read from memory is
 * validated, every fault becomes an event record, and nothing throws on bad
 * input.
 */

import { hex } from '../bits';
import type { PhysicalMemory } from '../memory';
import {
  ACC_EXEC,
  ACC_READ,
  ACC_WRITE,
  CLS_CD,
  CLS_IN,
  type FaultClass,
  type S1Compiled,
  type S2Compiled,
  type TraceEntry,
  type TracePurpose,
  type WalkFaultType,
  WalkCtx,
  compileS1,
  compileS2,
  s1InRange,
  s1PermissionDenied,
  s1Walk,
  s2PermissionDenied,
  s2Walk,
} from '../walk';
import { type Cd, CD_DWORDS, decodeCd, decodeL1cd, s1ParamsFromCd, validateCd } from './cd';
import { type Command, CERROR, type CerrorCode, commandNeeds, decodeCommand, isRangeTlbi, rangeOf } from './commands';
import { type EventName, type EventRecord, EVENT_CODES, encodeEvent } from './events';
import { type SmmuFeatures, idRegisters, withDefaults } from './features';
import {
  ASID_GLOBAL,
  ASID_S2,
  Iotlb,
  KIND_NESTED,
  KIND_S1,
  KIND_S2,
  type TlbContext,
  TlbEntry,
  WORLD_EL2,
  WORLD_EL2_E2H,
  WORLD_NS_EL1,
} from './iotlb';
import {
  CMDQ_CONS_ERR_SHIFT,
  CR0_CMDQEN,
  CR0_EVTQEN,
  CR0_MASK,
  CR0_SMMUEN,
  CR2_E2H,
  CR2_RECINVSID,
  GBPA_ABORT,
  GBPA_RESET,
  GBPA_UPDATE,
  GERROR_CMDQ_ERR,
  GERROR_EVENTQ_ABT_ERR,
  GERROR_MASK,
  GERROR_MSI_CMDQ_ABT,
  IRQ_CTRL_MASK,
  PAGE1,
  Q_OVFLG,
  REG_BY_NAME,
  REG_BY_OFFSET,
  queueBase,
  strtabCfg,
} from './registers';
import { type Ste, STE_DWORDS, type SteConfigName, decodeL1std, decodeSte, s2ParamsFromSte, validateSte } from './ste';

const TWO32 = 4294967296;

export type Access = 'read' | 'write' | 'exec';

/** A cached, validated STE. */
export interface StreamConfig {
  sid: number;
  steAddr: bigint;
  dwords: bigint[];
  ste: Ste;
  config: SteConfigName;
  /** Compiled stage-2 parameters when stage 2 is enabled. */
  c2: S2Compiled | null;
  /** TLB tags. */
  world: number;
  vmid: number;
  /** Stage-2-only TLB context (keyed by IPA). */
  s2Ctx: TlbContext | null;
  /** Non-SSID traffic uses CD 0 (S1CDMax = 0, or S1DSS = 2). */
  cd0ForNoSsid: boolean;
  /** No input attribute overrides: the fast path may serve this stream. */
  plain: boolean;
  /** CDs a SubstreamID may select: 2^S1CDMax, or 0 when the stream takes no SubstreamIDs. */
  cdCount: number;
}

/** A cached, validated CD. */
export interface ContextConfig {
  sid: number;
  ssid: number;
  cdAddr: bigint;
  dwords: bigint[];
  cd: Cd;
  c1: S1Compiled;
  asid: number;
  /** TLB contexts for this ASID and for global entries, per TTB half. */
  ctxAsid: [TlbContext, TlbContext];
  ctxGlobal: [TlbContext, TlbContext];
}

/** Outcome of one transaction. */
export type TranslateResult =
  | { kind: 'ok'; pa: bigint; ipa?: bigint; tlb: 'hit' | 'miss'; accesses: number; trace?: TraceEntry[]; entry?: TlbEntry }
  | { kind: 'bypass'; pa: bigint; accesses: number; trace?: TraceEntry[] }
  | { kind: 'abort'; reason: string; accesses: number; trace?: TraceEntry[] }
  | { kind: 'fault'; event: EventRecord; recorded: boolean; reason: string; accesses: number; trace?: TraceEntry[] };

export interface TranslateRequest {
  sid: number;
  /** SubstreamID, or undefined for a transaction without one. */
  ssid?: number;
  iova: bigint;
  access: Access;
  priv: boolean;
  trace?: boolean;
}

export interface SmmuStats {
  translations: number;
  tlbHits: number;
  tlbMisses: number;
  configHits: number;
  configMisses: number;
  walkReads: number;
  configReads: number;
  faults: number;
  eventsRecorded: number;
  eventsLost: number;
  commands: number;
  syncs: number;
  invalidations: number;
  msiWrites: number;
  irqs: number;
  sevs: number;
}

function newStats(): SmmuStats {
  return {
    translations: 0,
    tlbHits: 0,
    tlbMisses: 0,
    configHits: 0,
    configMisses: 0,
    walkReads: 0,
    configReads: 0,
    faults: 0,
    eventsRecorded: 0,
    eventsLost: 0,
    commands: 0,
    syncs: 0,
    invalidations: 0,
    msiWrites: 0,
    irqs: 0,
    sevs: 0,
  };
}

/** Invalidation timing: applied when the command is consumed, or held until the next CMD_SYNC (a teaching mode). */
export type SyncModel = 'immediate' | 'until-sync';

interface Fail {
  event: EventName;
  reason: string;
  stage?: 1 | 2;
  cls?: FaultClass;
  ipa?: bigint;
  fetchAddr?: bigint;
  /** Whether the record is written (CD.R / STE.S2R for translation faults). */
  record?: boolean;
}

export class Smmu {
  readonly f: SmmuFeatures;
  readonly ids: ReturnType<typeof idRegisters>;
  readonly iotlb: Iotlb;
  readonly stats: SmmuStats = newStats();
  syncModel: SyncModel = 'immediate';

  // Registers
  cr0 = 0;
  cr1 = 0;
  cr2 = 0;
  gbpa = GBPA_RESET;
  irqCtrl = 0;
  gerror = 0;
  gerrorn = 0;
  strtabBase = 0n;
  strtabBaseCfg = 0;
  cmdqBase = 0n;
  cmdqProd = 0;
  cmdqCons = 0;
  eventqBase = 0n;
  eventqProd = 0;
  eventqCons = 0;
  private readonly other = new Map<number, bigint>();

  // Configuration caches
  private readonly steCache = new Map<number, StreamConfig>();
  private readonly l1stdCache = new Map<number, bigint>();
  private readonly cdCache = new Map<number, ContextConfig>();
  private readonly l1cdCache = new Map<number, bigint>();
  /** Invalidations held until CMD_SYNC in 'until-sync' mode. */
  private pending: Command[] = [];
  /** Events written, in order (views); the queue in memory is the architectural record. */
  readonly eventLog: EventRecord[] = [];

  private readonly ctx: WalkCtx;
  /** An input address (hi, lo) fits the IAS iff hi < oasHiLimit. */
  private readonly oasHiLimit: number;

  constructor(
    readonly mem: PhysicalMemory,
    features: Partial<SmmuFeatures> = {},
    tlbCapacity = 4096,
  ) {
    this.f = withDefaults(features);
    this.ids = idRegisters(this.f);
    this.iotlb = new Iotlb(tlbCapacity);
    this.ctx = new WalkCtx(mem);
    this.oasHiLimit = 2 ** (this.f.oas - 32);
  }

  // -------------------------------------------------------------------------
  // Registers

  get smmuEnabled(): boolean {
    return (this.cr0 & CR0_SMMUEN) !== 0;
  }

  /** Page 1 holds only the event queue PROD/CONS (0xA8/0xAC); on page 0 those offsets are RAZ/WI. */
  private regOffset(offset: number): number {
    if (offset >= PAGE1) {
      const o = offset - PAGE1;
      return o === 0xa8 || o === 0xac ? o : -1;
    }
    return offset === 0xa8 || offset === 0xac ? -1 : offset;
  }

  /** Read a register by offset (page 0, or page 1 for the event queue PROD/CONS). */
  readReg(offset: number): bigint {
    const off = this.regOffset(offset);
    switch (off) {
      case 0x00:
        return BigInt(this.ids.IDR0);
      case 0x04:
        return BigInt(this.ids.IDR1);
      case 0x08:
        return BigInt(this.ids.IDR2);
      case 0x0c:
        return BigInt(this.ids.IDR3);
      case 0x10:
        return BigInt(this.ids.IDR4);
      case 0x14:
        return BigInt(this.ids.IDR5);
      case 0x18:
        return 0n; // IIDR
      case 0x1c:
        return 1n; // AIDR: SMMUv3.1
      case 0x20:
      case 0x24:
        return BigInt(this.cr0);
      case 0x28:
        return BigInt(this.cr1);
      case 0x2c:
        return BigInt(this.cr2);
      case 0x44:
        return BigInt(this.gbpa >>> 0);
      case 0x50:
      case 0x54:
        return BigInt(this.irqCtrl);
      case 0x60:
        return BigInt(this.gerror);
      case 0x64:
        return BigInt(this.gerrorn);
      case 0x80:
        return this.strtabBase;
      case 0x88:
        return BigInt(this.strtabBaseCfg);
      case 0x90:
        return this.cmdqBase;
      case 0x98:
        return BigInt(this.cmdqProd >>> 0);
      case 0x9c:
        return BigInt(this.cmdqCons >>> 0);
      case 0xa0:
        return this.eventqBase;
      case 0xa8:
        return BigInt(this.eventqProd >>> 0);
      case 0xac:
        return BigInt(this.eventqCons >>> 0);
      default:
        return this.other.get(off) ?? 0n;
    }
  }

  readRegByName(name: string): bigint | undefined {
    const r = REG_BY_NAME.get(name);
    return r ? this.readReg(r.offset) : undefined;
  }

  /**
   * Write a register. Writes the architecture forbids (the stream table base
   * while SMMUEN = 1, a queue base while its queue is enabled, read-only
   * registers) are ignored, as hardware does. Returns false when ignored.
   */
  writeReg(offset: number, value: bigint): boolean {
    const off = this.regOffset(offset);
    const v32 = Number(value & 0xffffffffn);
    switch (off) {
      case 0x20: {
        const old = this.cr0;
        this.cr0 = v32 & CR0_MASK;
        // CR0ACK follows immediately. Enabling the command queue starts consumption.
        if (!(old & CR0_CMDQEN) && this.cr0 & CR0_CMDQEN) this.consumeCommands();
        return true;
      }
      case 0x28:
        if (this.smmuEnabled) return false;
        this.cr1 = v32 & 0xfff;
        return true;
      case 0x2c:
        // CR2 is read-only while SMMUEN = 1 (E2H is baked into cached StreamWorlds).
        if (this.smmuEnabled) return false;
        this.cr2 = v32 & 0x7;
        return true;
      case 0x44:
        // GBPA: a write takes effect only with UPDATE set; the update completes at once (UPDATE reads as 0).
        if (!(v32 & GBPA_UPDATE)) return false;
        this.gbpa = (v32 & 0x0f10_3f1f) >>> 0;
        return true;
      case 0x50:
        this.irqCtrl = v32 & IRQ_CTRL_MASK;
        return true;
      case 0x64: {
        this.gerrorn = v32 & GERROR_MASK;
        // Acknowledging CMDQ_ERR lets the command queue resume.
        if (!this.cmdqErrorActive) {
          this.cmdqCons &= ~(0x7f << CMDQ_CONS_ERR_SHIFT);
          this.consumeCommands();
        }
        return true;
      }
      case 0x80:
        if (this.smmuEnabled) return false;
        this.strtabBase = value & 0x400f_ffff_ffff_ffc0n;
        return true;
      case 0x88:
        if (this.smmuEnabled) return false;
        this.strtabBaseCfg = v32 & 0x307ff;
        return true;
      case 0x90:
        if (this.cr0 & CR0_CMDQEN) return false;
        this.cmdqBase = value & 0x400f_ffff_ffff_ffffn;
        return true;
      case 0x98:
        this.cmdqProd = v32 & this.qIndexMask('cmdq');
        this.consumeCommands();
        return true;
      case 0x9c:
        if (this.cr0 & CR0_CMDQEN) return false;
        this.cmdqCons = v32 & this.qIndexMask('cmdq');
        return true;
      case 0xa0:
        if (this.cr0 & CR0_EVTQEN) return false;
        this.eventqBase = value & 0x400f_ffff_ffff_ffffn;
        return true;
      case 0xa8:
        if (this.cr0 & CR0_EVTQEN) return false;
        this.eventqProd = v32 & (this.qIndexMask('eventq') | Q_OVFLG);
        return true;
      case 0xac:
        this.eventqCons = (v32 & (this.qIndexMask('eventq') | Q_OVFLG)) >>> 0;
        return true;
      default: {
        const r = REG_BY_OFFSET.get(off);
        if (!r || r.name.startsWith('IDR') || r.name === 'IIDR' || r.name === 'AIDR' || r.name.endsWith('ACK') || r.name === 'GERROR') {
          return false;
        }
        this.other.set(off, value);
        return true;
      }
    }
  }

  writeRegByName(name: string, value: bigint): boolean {
    const r = REG_BY_NAME.get(name);
    if (!r) throw new Error(`unknown register ${name}`);
    return this.writeReg(r.offset, value);
  }

  /** Mask of index + wrap bits for a queue's LOG2SIZE (capped by IDR1). */
  private qIndexMask(q: 'cmdq' | 'eventq'): number {
    return (2 ** (this.qLog2(q) + 1) - 1) | 0;
  }

  private qLog2(q: 'cmdq' | 'eventq'): number {
    if (q === 'eventq') return Math.min(queueBase(this.eventqBase).log2size, this.f.eventqs);
    return Math.min(queueBase(this.cmdqBase).log2size, this.f.cmdqs);
  }

  get cmdqErrorActive(): boolean {
    return ((this.gerror ^ this.gerrorn) & GERROR_CMDQ_ERR) !== 0;
  }

  // -------------------------------------------------------------------------
  // Events

  private record(e: EventRecord): boolean {
    if (!(this.cr0 & CR0_EVTQEN) || (this.gerror ^ this.gerrorn) & GERROR_EVENTQ_ABT_ERR) {
      this.stats.eventsLost++;
      return false;
    }
    const log2 = this.qLog2('eventq');
    const n = 2 ** log2;
    const prod = this.eventqProd;
    const cons = this.eventqCons;
    const pIdx = prod & (n - 1);
    const cIdx = cons & (n - 1);
    const pWrap = prod & n;
    const cWrap = cons & n;
    if (pIdx === cIdx && pWrap !== cWrap) {
      // Full: the event is lost and the overflow flag toggles (if software acknowledged the last overflow).
      if ((prod & Q_OVFLG) === (cons & Q_OVFLG)) this.eventqProd = (prod ^ Q_OVFLG) >>> 0;
      this.stats.eventsLost++;
      return false;
    }
    const { addr } = queueBase(this.eventqBase);
    const base = BigInt(addr) & ~(BigInt(n * 32) - 1n);
    const slot = base + BigInt(pIdx * 32);
    const dw = encodeEvent(e);
    for (let i = 0; i < 4; i++) {
      if (!this.mem.write64(slot + BigInt(i * 8), dw[i])) {
        this.gerror ^= GERROR_EVENTQ_ABT_ERR; // not already active: checked above
        this.stats.eventsLost++;
        return false;
      }
    }
    const next = (pIdx + 1) % n;
    const wrap = next === 0 ? pWrap ^ n : pWrap;
    this.eventqProd = ((prod & Q_OVFLG) | wrap | next) >>> 0;
    this.eventLog.push(e);
    this.stats.eventsRecorded++;
    return true;
  }

  // -------------------------------------------------------------------------
  // Configuration: stream table

  private strtab(): { log2size: number; rawLog2size: number; split: number; twoLevel: boolean; base: bigint } {
    const cfg = strtabCfg(this.strtabBaseCfg);
    // The range check uses MIN(LOG2SIZE, SIDSIZE); the base alignment uses the literal LOG2SIZE.
    const log2size = Math.min(cfg.log2size, this.f.sidsize);
    let split = cfg.split;
    if (split !== 6 && split !== 8 && split !== 10) split = 6; // reserved SPLIT: CONSTRAINED UNPREDICTABLE, behaves as 6 here
    const twoLevel = cfg.fmt === 1 && this.f.stLevel2;
    return { log2size, rawLog2size: cfg.log2size, split, twoLevel, base: this.strtabBase & 0x000f_ffff_ffff_ffc0n };
  }

  /** Read `n` dwords from PA `addr` into out; false on an abort (one access, one trace entry). */
  private fetchStruct(addr: bigint, n: number, purpose: TracePurpose, out: bigint[]): boolean {
    const ctx = this.ctx;
    ctx.reads++;
    this.stats.configReads++;
    let ok = addr >= 0n && addr + BigInt(n * 8) <= 1n << 52n;
    for (let i = 0; i < n && ok; i++) {
      const v = this.mem.read64(addr + BigInt(i * 8));
      if (v === undefined) ok = false;
      else out[i] = v;
    }
    if (ctx.trace) ctx.trace.push({ stage: 0, level: 0, addr, desc: ok ? out[0] : undefined, purpose, words: ok ? out.slice(0, n) : undefined });
    return ok;
  }

  private steFor(sid: number): StreamConfig | Fail {
    const cached = this.steCache.get(sid);
    if (cached) {
      this.stats.configHits++;
      return cached;
    }
    this.stats.configMisses++;
    const st = this.strtab();
    if (sid >= 2 ** st.log2size) {
      return { event: 'C_BAD_STREAMID', reason: `StreamID ${sid} is outside the stream table (2^${st.log2size} entries)`, record: (this.cr2 & CR2_RECINVSID) !== 0 };
    }
    let steAddr: bigint;
    if (!st.twoLevel) {
      const base = st.base & ~((1n << BigInt(st.rawLog2size + 6)) - 1n);
      steAddr = base + BigInt(sid) * 64n;
    } else {
      const l1Index = Math.floor(sid / 2 ** st.split);
      const l1Bytes = 1n << BigInt(Math.max(6, st.rawLog2size - st.split + 3));
      const l1Addr = (st.base & ~(l1Bytes - 1n)) + BigInt(l1Index) * 8n;
      let l1 = this.l1stdCache.get(l1Index);
      if (l1 === undefined) {
        const buf = [0n];
        if (!this.fetchStruct(l1Addr, 1, 'l1std', buf)) {
          return { event: 'F_STE_FETCH', reason: `external abort reading the L1STD at ${hex(l1Addr)}`, fetchAddr: l1Addr };
        }
        l1 = buf[0];
      }
      const { span, l2ptr } = decodeL1std(l1);
      const recordBad = (this.cr2 & CR2_RECINVSID) !== 0;
      if (span === 0 || span > 11 || span > st.split + 1) {
        const why = span === 0 ? 'invalid (Span = 0)' : span > 11 ? `reserved (Span = ${span}, behaves as 0)` : `invalid (Span ${span} > SPLIT + 1 = ${st.split + 1})`;
        return { event: 'C_BAD_STREAMID', reason: `the L1STD for StreamID ${sid} is ${why}`, record: recordBad };
      }
      this.l1stdCache.set(l1Index, l1);
      const l2Index = sid % 2 ** st.split;
      if (l2Index >= 2 ** (span - 1)) {
        return { event: 'C_BAD_STREAMID', reason: `StreamID ${sid} is beyond the ${2 ** (span - 1)} STEs its L1STD spans`, record: recordBad };
      }
      steAddr = (l2ptr & ~(BigInt(2 ** (span - 1) * 64) - 1n)) + BigInt(l2Index) * 64n;
    }
    const dw = new Array<bigint>(STE_DWORDS).fill(0n);
    if (!this.fetchStruct(steAddr, STE_DWORDS, 'ste', dw)) {
      return { event: 'F_STE_FETCH', reason: `external abort reading the STE at ${hex(steAddr)}`, fetchAddr: steAddr };
    }
    const ste = decodeSte(dw);
    const v = validateSte(ste, this.f, this.f.hyp);
    if (!v.ok) return { event: 'C_BAD_STE', reason: v.reason };
    const s2On = v.config === 's2' || v.config === 'nested';
    const s1On = v.config === 's1' || v.config === 'nested';
    let world = WORLD_NS_EL1;
    if (s1On && !s2On && this.f.hyp && ste.STRW === 2) world = this.cr2 & CR2_E2H ? WORLD_EL2_E2H : WORLD_EL2;
    const vmid = this.f.s2 && world === WORLD_NS_EL1 ? ste.S2VMID & (this.f.vmid16 ? 0xffff : 0xff) : 0;
    const cfg: StreamConfig = {
      sid,
      steAddr,
      dwords: dw,
      ste,
      config: v.config,
      c2: s2On ? compileS2(s2ParamsFromSte(ste, this.f)) : null,
      world,
      vmid,
      s2Ctx: s2On ? this.iotlb.context(WORLD_NS_EL1, vmid, ASID_S2, 0) : null,
      cd0ForNoSsid: this.f.ssidsize === 0 || ste.S1CDMax === 0 || ste.S1DSS === 2,
      plain: (ste.PRIVCFG === 0 || ste.PRIVCFG === 1) && (ste.INSTCFG === 0 || ste.INSTCFG === 1),
      cdCount: this.f.ssidsize === 0 || ste.S1CDMax === 0 ? 0 : 2 ** ste.S1CDMax,
    };
    this.steCache.set(sid, cfg);
    return cfg;
  }

  // -------------------------------------------------------------------------
  // Configuration: context descriptors

  /** Translate a CD-table IPA through stage 2 (nested): CLASS = CD. */
  private cdAddr(s: StreamConfig, a: bigint, priv: boolean): bigint | Fail {
    if (s.config !== 'nested' || !s.c2) return a;
    const ok = s2Walk(this.ctx, s.c2, Number(a >> 32n), Number(a & 0xffffffffn), ACC_READ, priv, CLS_CD);
    if (!ok) return this.walkFail(s, null, a);
    return (BigInt(this.ctx.s2PaHi) << 32n) | BigInt(this.ctx.s2PaLo);
  }

  private cdFor(s: StreamConfig, ssid: number, priv: boolean): ContextConfig | Fail {
    const key = s.sid * 1048576 + ssid;
    const cached = this.cdCache.get(key);
    if (cached) return cached;
    const ste = s.ste;
    const ptr = ste.S1ContextPtr;
    let cdIpa: bigint;
    if (ste.S1CDMax === 0 || this.f.ssidsize === 0 || ste.S1Fmt === 0 || ste.S1Fmt === 3) {
      cdIpa = ptr + BigInt(ssid) * 64n;
    } else {
      const leafBits = ste.S1Fmt === 1 ? 6 : 10;
      const l1Index = Math.floor(ssid / 2 ** leafBits);
      const l1Ipa = ptr + BigInt(l1Index) * 8n;
      const l1Key = s.sid * 1048576 + l1Index;
      let l1 = this.l1cdCache.get(l1Key);
      if (l1 === undefined) {
        const l1Pa = this.cdAddr(s, l1Ipa, priv);
        if (typeof l1Pa !== 'bigint') return l1Pa;
        const buf = [0n];
        if (!this.fetchStruct(l1Pa, 1, 'l1cd', buf)) {
          return { event: 'F_CD_FETCH', reason: `external abort reading the L1CD at ${hex(l1Pa)}`, fetchAddr: l1Pa };
        }
        l1 = buf[0];
      }
      const d = decodeL1cd(l1);
      if (!d.v) return { event: 'C_BAD_SUBSTREAMID', reason: `the L1CD for SubstreamID ${ssid} is invalid (V = 0)` };
      if (s.config !== 'nested' && d.l2ptr >= 1n << BigInt(this.f.oas)) {
        return { event: 'C_BAD_SUBSTREAMID', reason: `the L1CD's L2Ptr is beyond the ${this.f.oas}-bit OAS` };
      }
      this.l1cdCache.set(l1Key, l1);
      cdIpa = d.l2ptr + BigInt(ssid % 2 ** leafBits) * 64n;
    }
    const cdPa = this.cdAddr(s, cdIpa, priv);
    if (typeof cdPa !== 'bigint') return cdPa;
    const dw = new Array<bigint>(CD_DWORDS).fill(0n);
    if (!this.fetchStruct(cdPa, CD_DWORDS, 'cd', dw)) {
      return { event: 'F_CD_FETCH', reason: `external abort reading the CD at ${hex(cdPa)}`, fetchAddr: cdPa };
    }
    const cd = decodeCd(dw);
    const v = validateCd(cd, this.f, s.config === 'nested');
    if (!v.ok) return { event: 'C_BAD_CD', reason: v.reason };
    const world = s.world;
    const asid = world === WORLD_EL2 ? ASID_GLOBAL : cd.ASID & (this.f.asid16 ? 0xffff : 0xff);
    const t = this.iotlb;
    const cfg: ContextConfig = {
      sid: s.sid,
      ssid,
      cdAddr: cdPa,
      dwords: dw,
      cd,
      c1: compileS1(s1ParamsFromCd(cd, this.f)),
      asid,
      ctxAsid: [t.context(world, s.vmid, asid, 0), t.context(world, s.vmid, asid, 1)],
      ctxGlobal: [t.context(world, s.vmid, ASID_GLOBAL, 0), t.context(world, s.vmid, ASID_GLOBAL, 1)],
    };
    this.cdCache.set(key, cfg);
    return cfg;
  }

  // -------------------------------------------------------------------------
  // Translation

  /** A fault from the walk context (or a stage-2 CD fetch) as a Fail. */
  private walkFail(s: StreamConfig, c: ContextConfig | null, inputAddr: bigint): Fail {
    const ctx = this.ctx;
    const type = ctx.fault as WalkFaultType;
    const stage = ctx.fStage;
    const f: Fail = { event: type, reason: ctx.fReason, stage, cls: (['CD', 'TT', 'IN'] as const)[ctx.fClass] };
    if (type === 'C_BAD_STE' || type === 'C_BAD_CD') return { event: type, reason: ctx.fReason };
    if (stage === 2) f.ipa = BigInt(ctx.fIpa);
    if (type === 'F_WALK_EABT') f.fetchAddr = BigInt(ctx.fFetch);
    if (type === 'F_TRANSLATION' || type === 'F_ADDR_SIZE' || type === 'F_ACCESS' || type === 'F_PERMISSION') {
      f.record = stage === 2 ? s.ste.S2R === 1 : c ? c.cd.R === 1 : true;
    }
    void inputAddr;
    return f;
  }

  /**
   * Translate one transaction. Faults are returned and recorded in the event
   * queue as the architecture says (translation faults only with CD.R / STE.S2R).
   */
  translate(req: TranslateRequest): TranslateResult {
    const ctx = this.ctx;
    ctx.reads = 0;
    ctx.trace = req.trace ? [] : undefined;
    this.stats.translations++;
    const res = this.doTranslate(req);
    this.stats.walkReads += ctx.reads;
    const out = res;
    out.accesses = ctx.reads;
    if (req.trace) out.trace = ctx.trace;
    ctx.trace = undefined;
    return out;
  }

  private doTranslate(req: TranslateRequest): TranslateResult {
    const iova = BigInt.asUintN(64, req.iova);
    if (!this.smmuEnabled) {
      if (this.gbpa & GBPA_ABORT) return { kind: 'abort', reason: 'SMMUEN = 0 and GBPA.ABORT = 1', accesses: 0 };
      if (iova >= 1n << BigInt(this.f.oas)) return { kind: 'abort', reason: `SMMUEN = 0: the input address is wider than the ${this.f.oas}-bit OAS`, accesses: 0 };
      return { kind: 'bypass', pa: iova, accesses: 0 };
    }
    const sid = req.sid >>> 0;
    const ssv = req.ssid !== undefined;
    const ssid = ssv ? (req.ssid as number) >>> 0 : 0;
    const s = this.steFor(sid);
    if (!('config' in s)) return this.fail(req, s);
    // STE input attribute overrides: PRIVCFG (2 unprivileged, 3 privileged), INSTCFG (2 data, 3 instruction).
    let access = req.access;
    let priv = req.priv;
    if (s.ste.PRIVCFG === 2) priv = false;
    else if (s.ste.PRIVCFG === 3) priv = true;
    if (access !== 'write') {
      if (s.ste.INSTCFG === 2) access = 'read';
      else if (s.ste.INSTCFG === 3) access = 'exec';
    }
    const acc = access === 'read' ? ACC_READ : access === 'write' ? ACC_WRITE : ACC_EXEC;
    const eff: TranslateRequest = { ...req, access, priv };
    switch (s.config) {
      case 'abort':
        return { kind: 'abort', reason: 'STE.Config = abort', accesses: 0 };
      case 'bypass':
        if (ssv) return this.fail(eff, { event: 'C_BAD_SUBSTREAMID', reason: 'a SubstreamID on a stream whose stage 1 is bypassed' }, s);
        if (iova >= 1n << BigInt(this.f.oas)) return this.fail(eff, { ...this.iasFault(), reason: `STE bypass: the input address is wider than the ${this.f.oas}-bit OAS` }, s);
        return { kind: 'bypass', pa: iova, accesses: 0 };
      case 's2':
        if (ssv) return this.fail(eff, { event: 'C_BAD_SUBSTREAMID', reason: 'a SubstreamID on a stream whose stage 1 is bypassed' }, s);
        return this.translateS2(eff, s, iova, acc, priv);
      default:
        break;
    }
    // Stage 1 enabled: pick the CD.
    const ste = s.ste;
    const cdMax = this.f.ssidsize === 0 ? 0 : ste.S1CDMax;
    let cdIndex = 0;
    if (!ssv) {
      if (cdMax > 0) {
        const dss = ste.S1DSS & 3;
        if (dss === 0 || dss === 3) {
          return this.fail(eff, { event: 'F_STREAM_DISABLED', reason: `a transaction without a SubstreamID, and STE.S1DSS = ${dss === 0 ? 'terminate' : 'reserved (behaves as terminate)'}` }, s);
        }
        if (dss === 1) {
          // Stage 1 bypassed for non-substream traffic: the input address is checked against the IAS.
          if (s.config === 'nested') return this.translateS2(eff, s, iova, acc, priv);
          if (iova >= 1n << BigInt(this.f.oas)) return this.fail(eff, this.iasFault(), s);
          return { kind: 'bypass', pa: iova, accesses: 0 };
        }
      }
    } else {
      if (cdMax === 0) return this.fail(eff, { event: 'C_BAD_SUBSTREAMID', reason: 'a SubstreamID on a stream with S1CDMax = 0 (one CD, no substreams)' }, s);
      if (ssid >= 2 ** cdMax) return this.fail(eff, { event: 'C_BAD_SUBSTREAMID', reason: `SubstreamID ${ssid} is beyond 2^S1CDMax = ${2 ** cdMax} CDs` }, s);
      if ((ste.S1DSS & 3) === 2 && ssid === 0) {
        return this.fail(eff, { event: 'F_STREAM_DISABLED', reason: 'SubstreamID 0 is reserved for traffic without a SubstreamID (S1DSS = 2)' }, s);
      }
      cdIndex = ssid;
    }
    const c = this.cdFor(s, cdIndex, priv);
    if (!('c1' in c)) return this.fail(eff, c, s);
    return this.translateS1(eff, s, c, iova, acc, priv);
  }

  private translateS2(req: TranslateRequest, s: StreamConfig, iova: bigint, acc: number, priv: boolean): TranslateResult {
    // Stage 1 bypassed: the input address is the IPA, checked against the IAS (= OAS for AArch64-only).
    if (iova >= 1n << BigInt(this.f.oas)) return this.fail(req, this.iasFault(), s);
    const ipa = Number(iova);
    const tctx = s.s2Ctx as TlbContext;
    const hit = tctx.lookup(ipa);
    if (hit) {
      const denied = s2PermissionDenied({ s2ap: hit.s2Ap, xn: hit.s2Xn, xnx: this.f.xnx }, { access: req.access, priv });
      if (denied) {
        return this.fail(req, { event: 'F_PERMISSION', reason: denied, stage: 2, cls: 'IN', ipa: iova, record: s.ste.S2R === 1 }, s);
      }
      hit.hits++;
      this.stats.tlbHits++;
      return { kind: 'ok', pa: BigInt(hit.paBase + (ipa - hit.inBase)), tlb: 'hit', accesses: 0, entry: hit };
    }
    this.stats.tlbMisses++;
    const ctx = this.ctx;
    if (!s2Walk(ctx, s.c2 as S2Compiled, Number(iova >> 32n), Number(iova & 0xffffffffn), acc, priv, CLS_IN)) {
      return this.fail(req, this.walkFail(s, null, iova), s);
    }
    const size = ctx.s2Size;
    const inBase = ipa - (ipa % size);
    const e = new TlbEntry(KIND_S2, inBase, size, ctx.s2Base, inBase, 0, false, false, false, ctx.s2Ap, ctx.s2Xn, -1, ctx.s2Level, tctx);
    this.iotlb.insert(e);
    return { kind: 'ok', pa: (BigInt(ctx.s2PaHi) << 32n) | BigInt(ctx.s2PaLo), tlb: 'miss', accesses: 0, entry: e };
  }

  private translateS1(req: TranslateRequest, s: StreamConfig, c: ContextConfig, iova: bigint, acc: number, priv: boolean): TranslateResult {
    const sel = (iova >> 55n) & 1n ? 1 : 0;
    const va52 = Number(iova & 0x000f_ffff_ffff_ffffn);
    const vaHi = Number(iova >> 32n);
    const vaLo = Number(iova & 0xffffffffn);
    // An address outside the TTB half's range never hits: the walk reports the translation fault.
    let hit = s1InRange(c.c1, vaHi, vaLo) ? c.ctxAsid[sel].lookup(va52) : undefined;
    if (!hit && c.asid !== ASID_GLOBAL && s1InRange(c.c1, vaHi, vaLo)) hit = c.ctxGlobal[sel].lookup(va52);
    if (hit) {
      const d1 = s1PermissionDenied(
        { ap: hit.s1Ap, pxn: hit.s1Pxn, uxn: hit.s1Uxn, wxn: c.c1.wxn, pan: c.c1.pan },
        { access: req.access, priv },
      );
      if (d1) return this.fail(req, { event: 'F_PERMISSION', reason: d1, stage: 1, cls: 'IN', record: c.cd.R === 1 }, s);
      if (hit.kind === KIND_NESTED) {
        const d2 = s2PermissionDenied({ s2ap: hit.s2Ap, xn: hit.s2Xn, xnx: this.f.xnx }, { access: req.access, priv });
        if (d2) {
          const ipa = BigInt(hit.ipaBase + (va52 - hit.inBase));
          return this.fail(req, { event: 'F_PERMISSION', reason: d2, stage: 2, cls: 'IN', ipa, record: s.ste.S2R === 1 }, s);
        }
      }
      hit.hits++;
      this.stats.tlbHits++;
      return { kind: 'ok', pa: BigInt(hit.paBase + (va52 - hit.inBase)), tlb: 'hit', accesses: 0, entry: hit };
    }
    this.stats.tlbMisses++;
    const ctx = this.ctx;
    const nested = s.config === 'nested' ? s.c2 : null;
    if (!s1Walk(ctx, c.c1, Number(iova >> 32n), Number(iova & 0xffffffffn), acc, priv, nested)) {
      return this.fail(req, this.walkFail(s, c, iova), s);
    }
    const e = this.cacheS1(c, va52, sel, nested !== null);
    return { kind: 'ok', pa: BigInt(ctx.pa), ipa: BigInt(ctx.ipa), tlb: 'miss', accesses: 0, entry: e };
  }

  // -------------------------------------------------------------------------
  // Fast path

  /** Output of translateN: the physical address on success (codes TN_HIT, TN_MISS, TN_BYPASS). */
  pa = 0;
  /** The full result of the last translateN that took the slow path. */
  lastResult: TranslateResult | null = null;

  /**
   * Translate without allocating when the configuration cache and the IOTLB
   * both hit (the DMA hot path); anything else takes translate(). `ssid` is
   * -1 for a transaction without a SubstreamID; the input address is given
   * as 32-bit halves; access is ACC_READ / ACC_WRITE / ACC_EXEC.
   */
  translateN(sid: number, ssid: number, vaHi: number, vaLo: number, access: number, priv: boolean): number {
    if (this.cr0 & CR0_SMMUEN) {
      const s = this.steCache.get(sid);
      if (s !== undefined && s.plain) {
        if (s.config === 's2') {
          if (ssid < 0 && vaHi < this.oasHiLimit) {
            const ipa = vaHi * TWO32 + vaLo;
            const e = (s.s2Ctx as TlbContext).lookup(ipa);
            if (e !== undefined && s2Allows(e.s2Ap, access)) {
              e.hits++;
              this.stats.translations++;
              this.stats.configHits++;
              this.stats.tlbHits++;
              this.pa = e.paBase + (ipa - e.inBase);
              return TN_HIT;
            }
          }
        } else if (s.config === 's1' || s.config === 'nested') {
          const c =
            ssid < 0
              ? s.cd0ForNoSsid
                ? this.cdCache.get(sid * 1048576)
                : undefined
              : ssid < s.cdCount && !(ssid === 0 && (s.ste.S1DSS & 3) === 2)
                ? this.cdCache.get(sid * 1048576 + ssid)
                : undefined;
          if (c !== undefined && s1InRange(c.c1, vaHi, vaLo)) {
            const sel = (vaHi >>> 23) & 1;
            const va52 = (vaHi & 0xfffff) * TWO32 + vaLo;
            let e = c.ctxAsid[sel].lookup(va52);
            if (e === undefined && c.asid !== ASID_GLOBAL) e = c.ctxGlobal[sel].lookup(va52);
            if (
              e !== undefined &&
              !c.c1.pan &&
              s1Allows(e.s1Ap, access, priv) &&
              (e.kind !== KIND_NESTED || s2Allows(e.s2Ap, access))
            ) {
              e.hits++;
              this.stats.translations++;
              this.stats.configHits++;
              this.stats.tlbHits++;
              this.pa = e.paBase + (va52 - e.inBase);
              return TN_HIT;
            }
            if (e === undefined) {
              // IOTLB miss with the configuration cached: walk without leaving numbers.
              const ctx = this.ctx;
              ctx.reads = 0;
              const nested = s.config === 'nested' ? s.c2 : null;
              if (s1Walk(ctx, c.c1, vaHi, vaLo, access, priv, nested)) {
                this.cacheS1(c, va52, sel, nested !== null);
                this.stats.translations++;
                this.stats.configHits++;
                this.stats.tlbMisses++;
                this.stats.walkReads += ctx.reads;
                this.pa = ctx.pa;
                return TN_MISS;
              }
            }
          }
        }
      }
    }
    const r = this.translate({
      sid,
      ssid: ssid < 0 ? undefined : ssid,
      iova: (BigInt(vaHi >>> 0) << 32n) | BigInt(vaLo >>> 0),
      access: access === ACC_READ ? 'read' : access === ACC_WRITE ? 'write' : 'exec',
      priv,
    });
    this.lastResult = r;
    if (r.kind === 'ok') {
      this.pa = Number(r.pa);
      return r.tlb === 'hit' ? TN_HIT : TN_MISS;
    }
    if (r.kind === 'bypass') {
      this.pa = Number(r.pa & 0x000f_ffff_ffff_ffffn);
      return TN_BYPASS;
    }
    return r.kind === 'abort' ? TN_ABORT : TN_FAULT;
  }

  /** Stage 1 bypassed and the input address wider than the IAS (= OAS: AArch64 tables only): a stage-1 F_ADDR_SIZE, always recorded. */
  private iasFault(): Fail {
    return { event: 'F_ADDR_SIZE', reason: `stage 1 bypassed: the input address is wider than the ${this.f.oas}-bit IAS`, stage: 1, cls: 'IN', record: true };
  }

  /** Insert the stage-1 (or combined nested) translation the walk context holds. */
  private cacheS1(c: ContextConfig, va52: number, sel: number, nested: boolean): TlbEntry {
    const ctx = this.ctx;
    // A combined nested entry covers the smaller of the two leaves.
    let size = ctx.s1Size;
    if (nested && ctx.s2Size < size) size = ctx.s2Size;
    const inBase = va52 - (va52 % size);
    const ipaBase = ctx.ipa - (va52 - inBase);
    const paBase = nested ? ctx.pa - (va52 - inBase) : ipaBase;
    const tctx = ctx.s1NG && c.asid !== ASID_GLOBAL ? c.ctxAsid[sel] : c.ctxGlobal[sel];
    const e = new TlbEntry(
      nested ? KIND_NESTED : KIND_S1,
      inBase,
      size,
      paBase,
      ipaBase,
      ctx.s1Ap,
      ctx.s1Pxn,
      ctx.s1Uxn,
      ctx.s1NG,
      nested ? ctx.s2Ap : 0,
      nested ? ctx.s2Xn : 0,
      ctx.s1Level,
      nested ? ctx.s2Level : -1,
      tctx,
    );
    this.iotlb.insert(e);
    return e;
  }

  /** Build, record (when allowed) and return a fault. */
  private fail(req: TranslateRequest, f: Fail, s?: StreamConfig): TranslateResult {
    this.stats.faults++;
    const ssv = req.ssid !== undefined;
    const e: EventRecord = {
      type: f.event,
      code: EVENT_CODES[f.event],
      sid: req.sid >>> 0,
      ssv,
      ssid: ssv ? (req.ssid as number) >>> 0 : 0,
    };
    const translationFault = f.event === 'F_TRANSLATION' || f.event === 'F_ADDR_SIZE' || f.event === 'F_ACCESS' || f.event === 'F_PERMISSION';
    if (translationFault || f.event === 'F_WALK_EABT') {
      e.rnw = req.access !== 'write';
      e.ind = req.access === 'exec';
      e.pnu = req.priv;
      e.s2 = f.stage === 2;
      e.cls = f.cls ?? 'IN';
      e.inputAddr = BigInt.asUintN(64, req.iova);
      if (f.stage === 2 && f.ipa !== undefined && translationFault) e.ipa = f.ipa & ~0xfffn;
      if (e.cls === 'TT') e.ttRead = true;
    }
    if (f.event === 'F_TRANSL_FORBIDDEN' || f.event === 'F_UUT') {
      e.rnw = req.access !== 'write';
      e.inputAddr = BigInt.asUintN(64, req.iova);
    }
    if (f.fetchAddr !== undefined) e.fetchAddr = f.fetchAddr & ~7n;
    const shouldRecord = f.record ?? true;
    void s;
    const recorded = shouldRecord ? this.record(e) : false;
    return { kind: 'fault', event: e, recorded, reason: f.reason, accesses: 0 };
  }

  // -------------------------------------------------------------------------
  // Command queue

  /** Consume commands from CONS up to PROD (synchronously, as the SMMU drains the queue). */
  consumeCommands(): void {
    if (!(this.cr0 & CR0_CMDQEN) || this.cmdqErrorActive) return;
    const log2 = this.qLog2('cmdq');
    const n = 2 ** log2;
    const { addr } = queueBase(this.cmdqBase);
    const base = BigInt(addr) & ~(BigInt(n * 16) - 1n);
    let guard = 0;
    while ((this.cmdqCons & (2 * n - 1)) !== (this.cmdqProd & (2 * n - 1)) && guard++ <= 2 * n) {
      const idx = this.cmdqCons & (n - 1);
      const slot = base + BigInt(idx * 16);
      const dw0 = this.mem.read64(slot);
      const dw1 = this.mem.read64(slot + 8n);
      if (dw0 === undefined || dw1 === undefined) {
        this.cmdqError(CERROR.ABT);
        return;
      }
      const err = this.execute(dw0, dw1);
      if (err !== CERROR.NONE) {
        this.cmdqError(err);
        return;
      }
      const next = idx + 1;
      const wrap = (this.cmdqCons & n) ^ (next === n ? n : 0);
      this.cmdqCons = (this.cmdqCons & ~(2 * n - 1) & ~(0x7f << CMDQ_CONS_ERR_SHIFT)) | wrap | (next % n);
    }
  }

  private cmdqError(code: CerrorCode): void {
    this.cmdqCons = (this.cmdqCons & ~(0x7f << CMDQ_CONS_ERR_SHIFT)) | (code << CMDQ_CONS_ERR_SHIFT);
    if (!this.cmdqErrorActive) this.gerror ^= GERROR_CMDQ_ERR;
    this.lastCerror = code;
  }

  /** The last CERROR raised (for views and the CLI). */
  lastCerror: CerrorCode = CERROR.NONE;

  /** Decode and execute one command; the CERROR code (NONE on success). */
  execute(dw0: bigint, dw1: bigint): CerrorCode {
    this.stats.commands++;
    const d = decodeCommand(dw0, dw1);
    if (!d.ok) return CERROR.ILL;
    const c = d.cmd;
    const needs = commandNeeds(c);
    if (needs.secure || needs.ats || needs.pri || needs.stall) return CERROR.ILL;
    if ((needs.s1 && !this.f.s1) || (needs.s2 && !this.f.s2) || (needs.hyp && !this.f.hyp)) return CERROR.ILL;
    if (c.op === 'CMD_CFGI_VMS_PIDM') return CERROR.ILL; // SMMUv3.2 VMS: not implemented
    if (this.f.ril && isRangeTlbi(c) && c.tg !== 0) {
      // Reserved range encodings (IHI 0070 4.4.1.1): NUM = SCALE = TTL = 0, and TG = 16K with TTL = 1 (no LPA2).
      if (c.num === 0 && c.scale === 0 && c.ttl === 0) return CERROR.ILL;
      if (c.tg === 2 && c.ttl === 1) return CERROR.ILL;
    }
    if (c.op === 'CMD_SYNC') {
      this.sync(c);
      return CERROR.NONE;
    }
    if (c.op === 'CMD_PREFETCH_CONFIG' || c.op === 'CMD_PREFETCH_ADDR') return CERROR.NONE;
    if (this.syncModel === 'until-sync') this.pending.push(c);
    else this.invalidate(c);
    return CERROR.NONE;
  }

  private sync(c: Extract<Command, { op: 'CMD_SYNC' }>): void {
    this.stats.syncs++;
    for (const p of this.pending) this.invalidate(p);
    this.pending = [];
    if (c.cs === 1) {
      if (this.f.msi && c.msiaddr !== 0n) {
        const a = c.msiaddr & ~3n;
        const word = a & ~7n;
        const old = this.mem.peek64(word);
        const shift = (a & 4n) === 4n ? 32n : 0n;
        const mask = 0xffffffffn << shift;
        if (old !== undefined && this.mem.write64(word, (old & ~mask) | (BigInt(c.msidata >>> 0) << shift))) {
          this.stats.msiWrites++;
        } else if (!((this.gerror ^ this.gerrorn) & GERROR_MSI_CMDQ_ABT)) {
          this.gerror ^= GERROR_MSI_CMDQ_ABT; // the completion MSI was aborted
        }
      } else this.stats.irqs++;
    } else if (c.cs === 2 && this.f.sev) this.stats.sevs++;
  }

  /** Invalidations waiting for a CMD_SYNC ('until-sync' mode). */
  get pendingInvalidations(): readonly Command[] {
    return this.pending;
  }

  private invalidate(c: Command): void {
    this.stats.invalidations++;
    const t = this.iotlb;
    const vmidMask = this.f.vmid16 ? 0xffff : 0xff;
    const asidMask = this.f.asid16 ? 0xffff : 0xff;
    const va = (cmd: Extract<Command, { addr: bigint }>): { sel: number; start: number; len: number | null } => {
      const r = rangeOf(cmd, { ril: this.f.ril });
      const start = r ? r.start : cmd.addr;
      return {
        sel: (start >> 55n) & 1n ? 1 : 0,
        start: Number(start & 0x000f_ffff_ffff_f000n),
        len: r && r.size !== null ? Number(r.size > 1n << 52n ? 1n << 52n : r.size) : null,
      };
    };
    switch (c.op) {
      case 'CMD_CFGI_STE':
        this.dropSte(c.sid, !c.leaf);
        break;
      case 'CMD_CFGI_STE_RANGE': {
        const count = 2 ** (c.range + 1);
        const start = Math.floor(c.sid / count) * count;
        for (const sid of [...this.steCache.keys()]) if (sid >= start && sid < start + count) this.dropSte(sid, true);
        this.dropCdsWhere((sid) => sid >= start && sid < start + count);
        this.l1stdCache.clear();
        break;
      }
      case 'CMD_CFGI_ALL':
        this.steCache.clear();
        this.l1stdCache.clear();
        this.cdCache.clear();
        this.l1cdCache.clear();
        break;
      case 'CMD_CFGI_CD': {
        this.cdCache.delete(c.sid * 1048576 + c.ssid);
        if (!c.leaf) this.dropL1cdsOf(c.sid);
        break;
      }
      case 'CMD_CFGI_CD_ALL':
        this.dropCdsWhere((sid) => sid === c.sid);
        this.dropL1cdsOf(c.sid);
        break;
      case 'CMD_TLBI_NH_ALL':
        t.invalidateS1Vmid(this.f.s2 ? c.vmid & vmidMask : 0);
        break;
      case 'CMD_TLBI_NH_ASID':
        t.invalidateAsid(WORLD_NS_EL1, this.f.s2 ? c.vmid & vmidMask : 0, c.asid & asidMask);
        break;
      case 'CMD_TLBI_NH_VA': {
        const r = va(c);
        t.invalidateVa(WORLD_NS_EL1, this.f.s2 ? c.vmid & vmidMask : 0, c.asid & asidMask, r.sel, r.start, r.len);
        break;
      }
      case 'CMD_TLBI_NH_VAA': {
        const r = va(c);
        t.invalidateVa(WORLD_NS_EL1, this.f.s2 ? c.vmid & vmidMask : 0, null, r.sel, r.start, r.len);
        break;
      }
      case 'CMD_TLBI_EL2_ALL':
        t.invalidateWorlds([WORLD_EL2, WORLD_EL2_E2H]);
        break;
      case 'CMD_TLBI_EL2_ASID':
        t.invalidateAsid(WORLD_EL2_E2H, 0, c.asid & asidMask);
        break;
      case 'CMD_TLBI_EL2_VA': {
        const r = va(c);
        t.invalidateVa(WORLD_EL2, 0, null, r.sel, r.start, r.len);
        t.invalidateVa(WORLD_EL2_E2H, 0, c.asid & asidMask, r.sel, r.start, r.len);
        break;
      }
      case 'CMD_TLBI_EL2_VAA': {
        const r = va(c);
        t.invalidateVa(WORLD_EL2, 0, null, r.sel, r.start, r.len);
        t.invalidateVa(WORLD_EL2_E2H, 0, null, r.sel, r.start, r.len);
        break;
      }
      case 'CMD_TLBI_S12_VMALL':
        t.invalidateVmid(c.vmid & vmidMask);
        break;
      case 'CMD_TLBI_S2_IPA': {
        const r = rangeOf(c, { ril: this.f.ril });
        const start = r ? r.start : c.addr;
        t.invalidateIpa(c.vmid & vmidMask, Number(start & 0x000f_ffff_ffff_f000n), r && r.size !== null ? Number(r.size) : null);
        break;
      }
      case 'CMD_TLBI_NSNH_ALL':
        t.invalidateWorlds([WORLD_NS_EL1]);
        break;
      default:
        break;
    }
  }

  private dropSte(sid: number, alsoL1: boolean): void {
    this.steCache.delete(sid);
    // CDs are reached through the STE: invalidating the STE invalidates them.
    this.dropCdsWhere((s) => s === sid);
    this.dropL1cdsOf(sid);
    if (alsoL1) {
      const { split } = this.strtab();
      this.l1stdCache.delete(Math.floor(sid / 2 ** split));
    }
  }

  private dropCdsWhere(pred: (sid: number) => boolean): void {
    for (const [k, v] of this.cdCache) if (pred(v.sid)) this.cdCache.delete(k);
  }

  private dropL1cdsOf(sid: number): void {
    for (const k of [...this.l1cdCache.keys()]) if (Math.floor(k / 1048576) === sid) this.l1cdCache.delete(k);
  }

  /**
   * Put one command in the queue at PROD and ring the doorbell: what a
   * driver does. Returns the CERROR the queue stopped with, or NONE.
   */
  submit(dw0: bigint, dw1: bigint): CerrorCode {
    const log2 = this.qLog2('cmdq');
    const n = 2 ** log2;
    const { addr } = queueBase(this.cmdqBase);
    const base = BigInt(addr) & ~(BigInt(n * 16) - 1n);
    const idx = this.cmdqProd & (n - 1);
    if (idx === (this.cmdqCons & (n - 1)) && (this.cmdqProd & n) !== (this.cmdqCons & n)) {
      // Full: only possible while the queue is stopped in error; a driver would wait, the command is not added.
      return ((this.cmdqCons >>> CMDQ_CONS_ERR_SHIFT) & 0x7f) as CerrorCode;
    }
    const slot = base + BigInt(idx * 16);
    this.lastCerror = CERROR.NONE;
    const okW = this.mem.write64(slot, dw0) && this.mem.write64(slot + 8n, dw1);
    const next = idx + 1;
    const wrap = (this.cmdqProd & n) ^ (next === n ? n : 0);
    const prod = wrap | (next % n);
    if (!okW) {
      // The driver's own write failed: the SMMU will read nothing there.
      this.writeReg(0x98, BigInt(prod));
      return this.lastCerror;
    }
    this.writeReg(0x98, BigInt(prod));
    return this.lastCerror;
  }

  // -------------------------------------------------------------------------
  // Views

  /** Cached configuration, for views and tests. */
  cachedStes(): StreamConfig[] {
    return [...this.steCache.values()];
  }

  cachedCds(): ContextConfig[] {
    return [...this.cdCache.values()];
  }
}

/** translateN result codes. */
export const TN_HIT = 0;
export const TN_MISS = 1;
export const TN_BYPASS = 2;
export const TN_ABORT = 3;
export const TN_FAULT = 4;

/** Stage-1 data access check for the fast path (exec and PAN take the full check). */
function s1Allows(ap: number, access: number, priv: boolean): boolean {
  if (access === ACC_EXEC) return false;
  if (!priv && (ap & 1) === 0) return false;
  return access === ACC_READ || (ap & 2) === 0;
}

function s2Allows(s2ap: number, access: number): boolean {
  if (access === ACC_READ) return (s2ap & 1) !== 0;
  if (access === ACC_WRITE) return (s2ap & 2) !== 0;
  return false;
}
