/**
 * Records, in order, every access KVM makes to the host CPU around VM-entry
 * and VM-exit (the mediated and RFC v1 world switches); perf's own accesses
 * inside perf_{load,put}_guest_context are summarised by their call.
 */
import assert from 'node:assert/strict';
import { MSR, RDPMC, msrName } from '../../src/hw/msr.ts';
import type { HostMachine } from '../../src/sim/host.ts';

export function hex(v: bigint | number): string {
  return `0x${v.toString(16)}`;
}

function rdpmcName(ecx: number): string {
  if (ecx === RDPMC.METRICS) return 'rdpmc metrics';
  return ecx & RDPMC.FIXED ? `rdpmc fixed${ecx & 0xffff}` : `rdpmc ${ecx}`;
}

/**
 * Record KVM's accesses to the host CPU: `wrmsr NAME value`, `rdmsr NAME`,
 * `rdpmc i`, the VMCS GLOBAL_CTRL switch as `vmcs GLOBAL_CTRL <- v (was w)`,
 * and perf's entry points as `perf.name` (their own MSR traffic hidden,
 * except LVTPC, which is the point of perf_{load,put}_guest_lvtpc).
 */
export function recorder(host: HostMachine): { log: string[]; clear(): void; enabled: boolean } {
  const cpu = host.cpus[0]!;
  const state = {
    log: [] as string[],
    enabled: true,
    clear() {
      state.log.length = 0;
    },
  };
  let inPerf = 0;
  const push = (line: string) => {
    if (state.enabled) state.log.push(line);
  };
  const wrmsr = cpu.wrmsr.bind(cpu);
  const rdmsr = cpu.rdmsr.bind(cpu);
  const rdpmc = cpu.rdpmc.bind(cpu);
  const rdpmcNumber = cpu.rdpmcNumber.bind(cpu);
  const switchGlobalCtrl = cpu.switchGlobalCtrl.bind(cpu);
  cpu.wrmsr = (msr, value) => {
    if (!inPerf || msr === MSR.X2APIC_LVTPC) push(`wrmsr ${msrName(msr)} ${hex(value)}`);
    wrmsr(msr, value);
  };
  cpu.rdmsr = (msr) => {
    if (!inPerf) push(`rdmsr ${msrName(msr)}`);
    return rdmsr(msr);
  };
  cpu.rdpmc = (ecx) => {
    if (!inPerf) push(rdpmcName(ecx));
    return rdpmc(ecx);
  };
  // The same RDPMC instruction, its value as a number (KVM's world switch uses it).
  cpu.rdpmcNumber = (ecx) => {
    if (!inPerf) push(rdpmcName(ecx));
    return rdpmcNumber(ecx);
  };
  // The same WRMSR, its value as a number (KVM's world switch writes counters with it).
  cpu.wrmsrNumber = (msr, value) => cpu.wrmsr(msr, BigInt(value));
  cpu.switchGlobalCtrl = (value) => {
    const old = switchGlobalCtrl(value);
    push(`vmcs GLOBAL_CTRL <- ${hex(value)} (was ${hex(old)})`);
    return old;
  };
  const exports = host.perfExports;
  for (const name of [
    'loadGuestContext',
    'putGuestContext',
    'loadGuestLvtpc',
    'putGuestLvtpc',
  ] as const) {
    const original = exports[name].bind(exports) as (...args: unknown[]) => void;
    (exports as unknown as Record<string, (...args: unknown[]) => void>)[name] = (...args) => {
      push(`perf.${name}`);
      inPerf++;
      try {
        original(...args);
      } finally {
        inPerf--;
      }
    };
  }
  return state;
}

/** Split a put-then-load trace at the load. */
export function splitAtLoad(log: readonly string[]): { put: string[]; load: string[] } {
  const i = log.indexOf('perf.loadGuestContext');
  assert.ok(i >= 0, 'no load in the trace');
  return { put: log.slice(0, i), load: log.slice(i) };
}
