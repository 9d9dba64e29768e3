/**
 * A guest's event filter in a scenario file (guests[].eventFilter): what the
 * VMM passes to KVM_SET_PMU_EVENT_FILTER, with events by name or raw
 * encoding, or masked entries by field. Part of the scenario schema
 * (scenario-schema.ts); src/sim/guest-event-filter.ts turns it into the
 * ioctl's argument.
 */
import { z } from 'zod';
import { showValue } from '../common/printable.ts';
import { NAMED_EVENT_NAMES } from '../hw/events.ts';
import { KVM_PMU_EVENT_FILTER_MAX_EVENTS } from '../kvm/event-filter.ts';

const int = (what: string) => z.int().describe(what);

const FILTER_EVENT_RE = new RegExp(`^(?:${NAMED_EVENT_NAMES.join('|')}|r[0-9a-fA-F]{1,4})$`);

const filterEvent = z.string().regex(FILTER_EVENT_RE, {
  error: (iss) =>
    `expected an event: ${NAMED_EVENT_NAMES.join(', ')}, or raw rUUEE hex (umask, event select; e.g. r01c2), without :u or :k (got ${showValue(iss.input)})`,
});

const MaskedEntrySchema = z
  .strictObject({
    eventSelect: int('Event select, 12 bits (bits 11:8 are AMD’s).').min(0).max(0xfff),
    mask: int('The umask bits compared.').min(0).max(0xff),
    match: int('What those bits must be: umask & mask == match.').min(0).max(0xff),
    exclude: z
      .boolean()
      .default(false)
      .describe('An exclude entry: an event it matches is not matched, whatever the includes say.'),
  })
  .meta({
    title: 'masked filter entry',
    description: 'KVM_PMU_ENCODE_MASKED_ENTRY(eventSelect, mask, match, exclude).',
  });

export const EventFilterSchema = z
  .strictObject({
    action: z
      .enum(['allow', 'deny'])
      .describe(
        "'allow': the guest may count only the events listed; 'deny': everything but them.",
      ),
    events: z
      .array(filterEvent)
      .max(KVM_PMU_EVENT_FILTER_MAX_EVENTS)
      .default([])
      .describe(
        `Up to ${KVM_PMU_EVENT_FILTER_MAX_EVENTS} events, by name (this CPU's encoding) or raw rUUEE hex. ` +
          'They govern general-purpose counters only.',
      ),
    masked: z
      .array(MaskedEntrySchema)
      .min(1)
      .max(KVM_PMU_EVENT_FILTER_MAX_EVENTS)
      .optional()
      .describe(
        'Masked entries instead of events (KVM_PMU_EVENT_FLAG_MASKED_EVENTS): each matches a ' +
          'select and a umask pattern.',
      ),
    fixedCounterBitmap: int(
      'Intel fixed counters the action applies to, bit i for fixed counter i: with deny, a set ' +
        'bit stops that counter; with allow, only set bits count. Events do not govern fixed ' +
        'counters. Default 0.',
    )
      .min(0)
      .max(0xffffffff)
      .default(0),
  })
  .superRefine((f, ctx) => {
    if (f.masked !== undefined && f.events.length > 0)
      ctx.addIssue({
        code: 'custom',
        path: ['masked'],
        message:
          'expected events or masked entries, not both: KVM reads every entry of a filter one way, as its flags say (got both)',
      });
  })
  .meta({
    title: 'event filter',
    description:
      'KVM_SET_PMU_EVENT_FILTER, as the VMM sets it on the VM before its vCPU is created: ' +
      'which events the guest may count.',
  });
