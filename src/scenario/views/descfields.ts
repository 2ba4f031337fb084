/**
 * Translation table descriptor fields, decoded: a pure function of the
 * 64-bit value, its stage, level and granule. Small on purpose (it imports
 * only the descriptor layouts), so the page can decode a page-table node's
 * fields itself on hover instead of receiving them for every node.
 */
import { type DescKind, type Granule, blockSize, descAddress, descKind, fieldsFor } from '../../emu/descriptor';
import { blockAllowed } from '../../emu/walk';
import type { BitField } from '../view';
import { type MeaningFn, flag, hx, registerView, s2MemAttrName, shareability, sizeName, u64 } from './common';

/** Descriptor kind at a level, with block legality for the granule (reserved where a block is not allowed). */
export function descKindAt(desc: bigint, level: number, g: Granule, paBits = 48): DescKind {
  const k = descKind(u64(desc), level);
  if (k === 'block' && !blockAllowed(g, level, paBits)) return 'reserved';
  return k;
}

export const AP_S1 = ['privileged read/write, no EL0 access', 'read/write at any EL', 'privileged read-only, no EL0 access', 'read-only at any EL'];
export const S2AP = ['no access', 'read-only', 'write-only', 'read/write'];

export function descMeaning(level: number, g: Granule, kind: DescKind, lpa: boolean, desc: bigint): MeaningFn {
  return (name, v) => {
    switch (name) {
      case 'Valid':
        return flag(v, 'valid', 'invalid: translation fault');
      case 'Type':
        if (kind === 'invalid') return undefined;
        if (level === 3) return v !== 0n ? 'page' : 'reserved at level 3 (translation fault)';
        return v !== 0n ? 'table' : kind === 'reserved' ? 'block, not allowed at this level (translation fault)' : 'block';
      case 'NLTA':
        return `next-level table at ${hx(descAddress(desc, g, BigInt(g), lpa))}`;
      case 'OA': {
        const size = level === 3 ? BigInt(g) : blockSize(g, level);
        return `output ${hx(descAddress(desc, g, size, lpa))} (${sizeName(size)} ${level === 3 ? 'page' : 'block'})`;
      }
      case 'AttrIndx':
        return `MAIR attribute ${v}`;
      case 'AP[1]':
        return flag(v, 'EL0 access allowed', 'no EL0 access');
      case 'AP[2]':
        return flag(v, 'read-only', 'read/write');
      case 'SH':
        return shareability(v);
      case 'AF':
        return flag(v, 'accessed', 'not accessed: access flag fault on use');
      case 'nG':
        return flag(v, 'non-global: TLB entries tagged with the ASID', 'global');
      case 'PXN':
        return flag(v, 'privileged execute-never', 'privileged execution allowed');
      case 'UXN':
        return flag(v, 'unprivileged execute-never', 'unprivileged execution allowed');
      case 'Contiguous':
        return flag(v, 'part of a contiguous set', 'not contiguous');
      case 'DBM':
        return flag(v, 'dirty bit modifier set', 'no DBM');
      case 'MemAttr':
        return s2MemAttrName(Number(v));
      case 'S2AP':
        return S2AP[Number(v & 3n)];
      case 'XN':
        return Number(v) & 2 ? 'execute-never' : 'executable';
      case 'APTable':
        return ['no effect', 'no EL0 access below', 'read-only below', 'read-only, no EL0 access below'][Number(v & 3n)];
      case 'PXNTable':
        return flag(v, 'privileged execute-never below', 'no effect');
      case 'UXNTable':
        return flag(v, 'unprivileged execute-never below', 'no effect');
      case 'NSTable':
        return flag(v, 'Non-secure below', 'no effect');
      default:
        return undefined;
    }
  };
}


/** Decoded descriptor fields (for walk reads and page-table nodes). */
export function descriptorFields(desc: bigint, stage: 1 | 2, level: number, granule: Granule, lpa = false): BitField[] {
  const d = u64(desc);
  const lvl = Math.max(0, Math.min(3, Math.trunc(level)));
  const kind = descKindAt(d, lvl, granule, lpa ? 52 : 48);
  return registerView('', [d], fieldsFor(stage, kind === 'reserved' ? 'invalid' : kind), [], [], descMeaning(lvl, granule, kind, lpa, d)).fields;
}

