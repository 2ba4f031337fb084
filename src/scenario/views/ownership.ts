/**
 * The pKVM page-ownership map as runs for the ownership panel.
 */

import type { PageOwnership, Space } from '../../emu/hyp/ownership';
import type { OwnershipRunView } from '../view';

/** `host`, `hyp`, `guest 3`. */
export function spaceName(s: Space): string {
  return typeof s === 'string' ? s : `guest ${s.guest}`;
}

/**
 * Every run of pages in identical state (PageOwnership.snapshot(), which
 * reads without changing anything), in address order: owner, the other
 * party of a share, the page state in each address space, MMIO, DMA
 * refcount and hyp pins.
 */
export function ownershipView(own: PageOwnership): OwnershipRunView[] {
  return own.snapshot().runs.map((r) => {
    const owner = r.owner;
    const states = [`host: ${r.host}`, `hyp: ${r.hyp}`, ...r.guests.map((g) => `guest ${g.vm}: ${g.state}`)];
    const v: OwnershipRunView = {
      base: r.base,
      size: r.size,
      owner: owner === 'none' ? 'none' : typeof owner === 'string' ? owner : 'guest',
      state: states.join(', '),
      mmio: r.mmio,
      dmaRefcount: r.dmaRefcount,
      hypPins: r.hypPins,
    };
    if (typeof owner === 'object') v.guest = owner.guest;
    if (r.sharedWith !== null) v.sharedWith = spaceName(r.sharedWith);
    return v;
  });
}
