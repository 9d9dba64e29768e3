/**
 * Host perf's TSX event bits, from upstream's arch/x86/events/intel/core.c:
 * - hsw_hw_config: only with boot_cpu_has(X86_FEATURE_RTM) or
 *   boot_cpu_has(X86_FEATURE_HLE) does hw.config get attr.config's IN_TX
 *   (bit 32) and IN_TXCP (bit 33); without, they are dropped with the rest
 *   of config_mask's complement. A checkpointed event whose
 *   attr.sample_period (or sample_freq, the same union field) is in
 *   (0, 0x7fffffff) is refused with EOPNOTSUPP.
 * - hsw_get_event_constraints: a checkpointed event may use GP counter 2 only.
 * - arch/x86/kernel/cpu/tsx.c tsx_init: tsx=off clears both CPUID bits where
 *   IA32_TSX_CTRL exists (Sapphire Rapids here).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PerfError } from '../../src/common/errors.ts';
import { EVTSEL } from '../../src/hw/msr.ts';
import { counterOf, machine, throwsErrno } from './helpers.ts';

const CYCLES = 0x3c;
const IN_TX = 2 ** 32;
const IN_TXCP = 2 ** 33;

function decode(
  tsx: 'on' | 'off',
  config: number,
  extra: { samplePeriod?: number; sampleFreq?: number } = {},
) {
  return machine({ cpu: 'intel-sapphire-rapids', tsx }).perfCore.x86!.eventInit({
    config,
    ...extra,
  });
}

describe('hsw_hw_config: IN_TX / IN_TXCP', () => {
  it('with TSX the bits reach hw.config; with tsx=off they are dropped', () => {
    for (const bits of [IN_TX, IN_TXCP, IN_TX + IN_TXCP]) {
      const on = decode('on', CYCLES + bits).config;
      assert.equal(on & (EVTSEL.IN_TX | EVTSEL.IN_TXCP), BigInt(bits));
      const off = decode('off', CYCLES + bits).config;
      assert.equal(off & (EVTSEL.IN_TX | EVTSEL.IN_TXCP), 0n);
      assert.equal(off, decode('off', CYCLES).config);
    }
  });

  it('a checkpointed event may not sample with a period below 0x7fffffff', () => {
    for (const extra of [
      { samplePeriod: 1000 },
      { samplePeriod: 0x7ffffffe },
      { sampleFreq: 1000 },
    ])
      throwsErrno(() => decode('on', CYCLES + IN_TXCP, extra), 'EOPNOTSUPP', PerfError);
    // Counting, or a period of 0x7fffffff and more ("so that perf stat from KVM works").
    assert.ok(decode('on', CYCLES + IN_TXCP));
    assert.ok(decode('on', CYCLES + IN_TXCP, { samplePeriod: 0x7fffffff }));
    // IN_TX alone may sample; without TSX the bit is gone, so nothing to refuse.
    assert.ok(decode('on', CYCLES + IN_TX, { samplePeriod: 1000 }));
    assert.ok(decode('off', CYCLES + IN_TXCP, { samplePeriod: 1000 }));
  });

  it('hsw_get_event_constraints: a checkpointed event runs on GP counter 2, and only there', () => {
    const host = machine({ cpu: 'intel-sapphire-rapids', tsx: 'on' });
    const first = host.perf.open({ config: CYCLES + IN_TXCP }, { cpu: 0 });
    assert.equal(counterOf(first), 2);
    // A second one finds counter 2 taken and cannot be scheduled.
    const second = host.perf.open({ config: CYCLES + IN_TXCP }, { cpu: 0 });
    assert.equal(second.state, 'inactive');
    assert.equal(decode('on', CYCLES + IN_TXCP).gpMask, 1 << 2);
    assert.equal(decode('on', CYCLES + IN_TX).gpMask, 0xff);
  });
});
