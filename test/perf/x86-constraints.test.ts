/**
 * Per-event counter constraints in the x86 driver's scheduling, and what a
 * guest's selector meets in each vPMU design. Expected values come from
 * upstream's tables and code, cited beside each test:
 *  - intel_spr_event_constraints (arch/x86/events/intel/core.c), used on
 *    Sapphire Rapids and Emerald Rapids: event selects 0x01-0x8f (but 0x2e,
 *    0x3c) and 0xd0-0xdf on counters 0-3 only, 0xce on counter 0 only, other
 *    selects from 0x90 on any of the 8;
 *  - intel_icl_event_constraints, used on Ice Lake and Tiger Lake (below);
 *  - x86_schedule_events / perf_assign_events: the lightest constraint
 *    (fewest counters) is placed first;
 *  - the mediated vPMU: intel_pmu_set_msr checks a selector against
 *    pmu->reserved_bits only, and the guest's value reaches the hardware.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CpuModelName } from '../../src/hw/cpu-models.ts';
import { EVTSEL, MSR } from '../../src/hw/msr.ts';
import type { VcpuImpl } from '../../src/kvm/vcpu.ts';
import type { KernelEvent } from '../../src/perf/event.ts';
import { gpCounterMask, hweight } from '../../src/perf/x86-constraints.ts';
import { HostMachine } from '../../src/sim/host.ts';

const MEM_INST_RETIRED_ALL_LOADS = 0x81d0; // select 0xd0: counters 0-3
const BR_INST_RETIRED = 0x00c4; // select 0xc4: any counter
const SELECT_0XCE = 0x01ce; // INTEL_EVENT_CONSTRAINT(0xce, 0x1): counter 0 only

function statesOf(cpu: CpuModelName, configs: number[]): string[] {
  const host = new HostMachine({ cpu });
  const events = configs.map((config) => host.perf.open({ config }, { cpu: 0 }));
  host.exec({ instructions: 1000 });
  return events.map((e) => e.state);
}

describe('x86 driver: per-event counter constraints (intel_spr_event_constraints)', () => {
  for (const cpu of ['intel-sapphire-rapids', 'intel-emerald-rapids'] as const) {
    it(`${cpu}: five 0xd0 events get four counters (0-3); five 0xc4 events get five`, () => {
      const loads = statesOf(cpu, Array<number>(5).fill(MEM_INST_RETIRED_ALL_LOADS));
      assert.equal(loads.filter((s) => s === 'active').length, 4);
      assert.equal(loads.filter((s) => s === 'inactive').length, 1, 'multiplexed');
      const branches = statesOf(cpu, Array<number>(5).fill(BR_INST_RETIRED));
      assert.deepEqual(branches, Array<string>(5).fill('active'));
    });
  }

  it('two events restricted to counter 0 cannot count together', () => {
    const states = statesOf('intel-sapphire-rapids', [SELECT_0XCE, SELECT_0XCE]);
    assert.deepEqual(states, ['active', 'inactive']);
  });

  it('the lightest constraint is placed first: a counter-0 event added after an unconstrained one still counts', () => {
    // In add order the branch event would take counter 0; by weight (1 < 8)
    // the 0xce event takes it and the branch event the next free counter.
    const states = statesOf('intel-sapphire-rapids', [BR_INST_RETIRED, SELECT_0XCE]);
    assert.deepEqual(states, ['active', 'active']);
  });

  it('the table: masks and weights as upstream lists them, the first match winning', () => {
    const spr = { vendor: 'intel' as const, cpuSignature: 0x806f0, nrGp: 8 };
    const mask = (raw: number) => gpCounterMask(spr, BigInt(raw));
    assert.equal(mask(0x2e), 0xff); // INTEL_EVENT_CONSTRAINT(0x2e, 0xff) before the 0x01-0x8f range
    assert.equal(mask(0x3c), 0xff);
    assert.equal(mask(0x0148), 0xf); // 0x01-0x8f
    assert.equal(mask(0x08a3), 0xf); // INTEL_UEVENT_CONSTRAINT(0x08a3, 0xf)
    assert.equal(mask(0x04a4), 0x1); // INTEL_UEVENT_CONSTRAINT(0x04a4, 0x1)
    assert.equal(mask(0x01a4), 0xff); // 0x90-0xfe
    assert.equal(mask(0x02cd), 0x1);
    assert.equal(mask(0x01cd), 0xff);
    assert.equal(mask(0xdf), 0xf);
    assert.equal(mask(0xff), 0xff); // no entry: every counter
    assert.equal(hweight(mask(0xce)), 1);
    // A part without the table (Skylake), and AMD: every counter.
    assert.equal(gpCounterMask({ ...spr, cpuSignature: 0x50650, nrGp: 4 }, 0xcen), 0xf);
    assert.equal(gpCounterMask({ vendor: 'amd', nrGp: 6 }, 0xcen), 0x3f);
  });
});

describe('x86 driver: per-event counter constraints (intel_icl_event_constraints)', () => {
  // Expected masks from upstream's table, as 7.0 has it: the 0x48 range ends at
  // 0x56 since 86dca369075b ("perf/x86/intel: Fix event constraints for ICL":
  // 0x55 INST_DECODED.DECODERS and 0x56 UOPS_DECODED.DEC0 on the first 4
  // counters), 0xef on counters 0-3 since ecc2123e09f9.
  it('intel-icelake: five 0xd0 events get four counters (0-3); five 0xc4 events get five', () => {
    const loads = statesOf('intel-icelake', Array<number>(5).fill(MEM_INST_RETIRED_ALL_LOADS));
    assert.equal(loads.filter((s) => s === 'active').length, 4);
    assert.equal(loads.filter((s) => s === 'inactive').length, 1, 'multiplexed');
    const branches = statesOf('intel-icelake', Array<number>(5).fill(BR_INST_RETIRED));
    assert.deepEqual(branches, Array<string>(5).fill('active'));
  });

  it('the table: masks as upstream lists them, the first match winning', () => {
    const icx = { vendor: 'intel' as const, cpuSignature: 0x606a0, nrGp: 8 };
    const mask = (raw: number) => gpCounterMask(icx, BigInt(raw));
    assert.equal(mask(0x0155), 0xf); // INST_DECODED.DECODERS, in 0x48-0x56 since 86dca369075b
    assert.equal(mask(0x0156), 0xf); // UOPS_DECODED.DEC0
    assert.equal(mask(0x0157), 0xff); // past the range
    assert.equal(mask(0x04a3), 0xff); // INTEL_UEVENT_CONSTRAINT(0x04a3, 0xff) before 0xa3
    assert.equal(mask(0x14a3), 0xff);
    assert.equal(mask(0x01a3), 0xf); // INTEL_EVENT_CONSTRAINT(0xa3, 0xf): CYCLE_ACTIVITY.*
    assert.equal(mask(0x0132), 0xf); // SW_PREFETCH_ACCESS.*
    assert.equal(mask(0xef), 0xf); // ecc2123e09f9
    assert.equal(mask(0xee), 0xff);
    assert.equal(mask(0xe6), 0xf); // 0xd0-0xe6
    assert.equal(mask(0xe7), 0xff);
    assert.equal(mask(0x3c), 0xff); // CPU_CLK_UNHALTED.CORE: a fixed entry extended to every GP counter
    assert.equal(mask(0xc0), 0xff); // INST_RETIRED.ANY likewise
    assert.equal(mask(0x0b), 0xff); // between 0x03-0x0a and 0x1f-0x28
    // Tiger Lake (INTEL_TIGERLAKE_L, model 0x8c) installs the same table.
    assert.equal(gpCounterMask({ ...icx, cpuSignature: 0x806c0 }, 0x0155n), 0xf);
  });
});

describe('what a guest programs meets the constraint only in the perf-emulated design', () => {
  const sel = (raw: number) => BigInt(raw) | EVTSEL.EN | EVTSEL.OS | EVTSEL.USR;

  it('emulated: the second guest counter of a counter-0 event gets no counter; its pinned perf event is in error', () => {
    // KVM creates a pinned perf event per guest counter (pmc_reprogram_counter);
    // the host's constraint applies to it, and a pinned event that cannot be
    // scheduled goes to the error state: that guest counter does not count.
    const host = new HostMachine({ cpu: 'intel-sapphire-rapids' });
    const created: KernelEvent[] = [];
    const exports = host.perfExports;
    const create = exports.createKernelCounter.bind(exports);
    exports.createKernelCounter = (attr, cpu, pid, overflow) => {
      const event = create(attr, cpu, pid, overflow);
      created.push(event);
      return event;
    };
    const vcpu = host.kvm.createVm().createVcpu() as VcpuImpl;
    assert.equal(vcpu.designName, 'emulated');
    vcpu.run((g) => {
      g.wrmsr(MSR.IA32_PERFEVTSEL0, sel(SELECT_0XCE));
      g.wrmsr(MSR.IA32_PERFEVTSEL0 + 1, sel(SELECT_0XCE));
      g.exec({ instructions: 1000 });
    });
    assert.equal(created.length, 2);
    assert.deepEqual(
      created.map((e) => e.state),
      [1, -2], // EventState.Active, EventState.Error
    );
  });

  it('mediated: the guest puts a counter-0 event on counter 5; KVM accepts it and the hardware holds it', () => {
    const host = new HostMachine({
      cpu: 'intel-sapphire-rapids',
      kvm: { enableMediatedPmu: true },
    });
    const vcpu = host.kvm.createVm().createVcpu() as VcpuImpl;
    assert.equal(vcpu.designName, 'mediated');
    const [guestView, hardware] = vcpu.run((g) => {
      g.wrmsr(MSR.IA32_PERFEVTSEL0 + 5, sel(SELECT_0XCE));
      return [g.rdmsr(MSR.IA32_PERFEVTSEL0 + 5), vcpu.hostCpu.rdmsr(MSR.IA32_PERFEVTSEL0 + 5)];
    });
    assert.equal(guestView, sel(SELECT_0XCE));
    assert.equal(hardware & 0xffffn, BigInt(SELECT_0XCE));
  });
});
