/**
 * Walk parameters from io-pgtable configurations: what an STE or CD built
 * by Linux for these tables would tell the SMMU walker.
 */

import type { ArmLpaeIoPgtable } from './iopgtable';
import type { S1WalkParams, S2WalkParams } from './walk';

/** Stage-1 parameters for TTB0 = the io-pgtable's pgd (TTB1 disabled), as arm-smmu-v3 writes a CD. */
export function s1ParamsFor(pgt: ArmLpaeIoPgtable, oasBits = 48): S1WalkParams {
  const s1 = pgt.s1;
  if (!s1) throw new Error('s1ParamsFor: not a stage-1 table');
  return {
    tt: [
      { ttb: s1.ttbr, tsz: s1.tsz, granule: pgt.granule, epd: false, had: false, tbi: false },
      { ttb: 0n, tsz: s1.tsz, granule: pgt.granule, epd: true, had: false, tbi: false },
    ],
    ips: s1.ips,
    oasBits,
    affd: false,
    wxn: false,
    pan: false,
  };
}

/** Stage-2 parameters as arm-smmu-v3 writes an STE for these tables. */
export function s2ParamsFor(pgt: ArmLpaeIoPgtable, oasBits = 48): S2WalkParams {
  const s2 = pgt.s2;
  if (!s2) throw new Error('s2ParamsFor: not a stage-2 table');
  return {
    ttb: s2.vttbr,
    tsz: s2.tsz,
    sl0: s2.sl,
    granule: pgt.granule,
    ps: s2.ps,
    oasBits,
    affd: false,
    xnx: false,
    ptw: false,
  };
}
