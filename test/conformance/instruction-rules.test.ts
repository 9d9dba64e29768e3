/**
 * Rules of Linux 7.0's KVM a guest can observe through its own counters,
 * checked through the public API on every model and design of helpers.ts.
 * No upstream suite tests them one by one; the expected values come from the
 * upstream code cited beside each test:
 *
 * - arch/x86/kvm/x86.c kvm_skip_emulated_instruction(): every intercepted
 *   instruction KVM completes (CPUID, RDMSR, WRMSR, RDPMC, HLT, the
 *   fastpath handlers too) calls kvm_pmu_instruction_retired(); one KVM
 *   fails injects #GP instead (kvm_complete_insn_gp) and does not retire.
 *   An instruction that does not exit is retired by the hardware.
 * - arch/x86/kvm/pmu.h kvm_pmu_is_fastpath_emulation_allowed(): only a
 *   vCPU with a mediated PMU whose counters count instructions (locally
 *   enabled, event match; kvm_pmu_recalc_pmc_emulation() does not consult
 *   the event filter) with their bit set in pmu->global_ctrl is refused the
 *   fastpath; pmu->global_ctrl is refreshed at VM-exit before the fastpath
 *   runs (vmx_refresh_guest_perf_global_control, svm_vcpu_run).
 * - arch/x86/kvm/pmu.h kvm_vcpu_has_mediated_pmu(): enable_mediated_pmu &&
 *   pmu->version; without it kvm_mediated_pmu_load/put do nothing.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MSR, type GuestCpu } from '../../src/index.ts';
import {
  CONFIGS,
  EVENTSEL,
  GP_VECTOR,
  faultVector,
  hostFor,
  rawEvent,
  vmFor,
  type Config,
} from './helpers.ts';

const PMI_VECTOR = 0xe0;

/** Instructions retired: event 0xc0, umask 0 on Intel (architectural) and AMD alike. */
const INSTRUCTIONS = rawEvent(0xc0, 0);

function ctlMsr(c: Config, i: number): number {
  return c.vendor === 'intel' ? MSR.IA32_PERFEVTSEL0 + i : MSR.MSR_K7_EVNTSEL0 + i;
}

function ctrMsr(c: Config, i: number): number {
  return c.vendor === 'intel' ? MSR.IA32_PERFCTR0 + i : MSR.MSR_K7_PERFCTR0 + i;
}

/** What `op` adds to an instructions counter: RDPMC, op, RDPMC, less the first RDPMC's own 1. */
function retiredBy(g: GuestCpu, op: () => void): bigint {
  const before = g.rdpmc(0);
  op();
  return g.rdpmc(0) - before - 1n;
}

for (const c of CONFIGS) {
  describe(`kvm_skip_emulated_instruction: every guest instruction retires once, on ${c.label}`, () => {
    it('RDMSR, WRMSR, RDPMC, CPUID and HLT each add 1 to an instructions counter; a #GP adds 0', () => {
      const host = hostFor(c);
      const vcpu = vmFor(host, c).createVcpu();
      vcpu.run((g) => {
        if (c.vendor === 'intel') g.wrmsr(MSR.IA32_PERF_GLOBAL_CTRL, 0b11n);
        g.wrmsr(ctrMsr(c, 0), 0n);
        g.wrmsr(ctlMsr(c, 0), EVENTSEL.OS | EVENTSEL.USR | EVENTSEL.ENABLE | INSTRUCTIONS);
        // Two RDPMCs in a row differ by the first one.
        const a = g.rdpmc(0);
        assert.equal(g.rdpmc(0) - a, 1n, 'RDPMC');
        assert.equal(
          retiredBy(g, () => g.rdmsr(ctlMsr(c, 0))),
          1n,
          'RDMSR',
        );
        assert.equal(
          retiredBy(g, () => g.wrmsr(ctrMsr(c, 1), 5n)),
          1n,
          'WRMSR',
        );
        assert.equal(
          retiredBy(g, () => g.rdpmc(1)),
          1n,
          'RDPMC of another counter',
        );
        assert.equal(
          retiredBy(g, () => g.cpuid(0)),
          1n,
          'CPUID',
        );
        assert.equal(
          retiredBy(g, () => g.hlt()),
          1n,
          'HLT',
        );
        assert.equal(
          retiredBy(g, () => g.exec({ instructions: 7 })),
          7n,
          'exec',
        );
        assert.equal(
          retiredBy(g, () => g.execEmulated({ instructions: 3 })),
          3n,
          'execEmulated',
        );
        // kvm_complete_insn_gp: a faulting RDMSR / WRMSR is not skipped, so it does not retire.
        assert.equal(
          retiredBy(g, () =>
            assert.equal(
              faultVector(() => g.rdmsr(0x0badc0de)),
              GP_VECTOR,
            ),
          ),
          0n,
          'RDMSR #GP',
        );
        assert.equal(
          retiredBy(g, () =>
            assert.equal(
              faultVector(() => g.wrmsr(0x0badc0de, 0n)),
              GP_VECTOR,
            ),
          ),
          0n,
          'WRMSR #GP',
        );
      });
    });

    it('an instruction retires at its CPL: a USR-only counter counts a CPL-3 RDPMC, not a CPL-0 one', () => {
      const host = hostFor(c);
      const vcpu = vmFor(host, c).createVcpu();
      vcpu.run((g) => {
        if (c.vendor === 'intel') g.wrmsr(MSR.IA32_PERF_GLOBAL_CTRL, 0b1n);
        g.wrmsr(ctrMsr(c, 0), 0n);
        g.wrmsr(ctlMsr(c, 0), EVENTSEL.USR | EVENTSEL.ENABLE | INSTRUCTIONS);
        g.cr4Pce = true;
        const a = g.rdpmc(0);
        assert.equal(g.rdpmc(0), a, 'CPL 0: not counted');
        g.cpl = 3;
        const b = g.rdpmc(0);
        assert.equal(g.rdpmc(0) - b, 1n, 'CPL 3: counted');
        g.cpl = 0;
      });
    });

    it('an exiting instruction that wraps a counter sets its status bit and injects the PMI', () => {
      const host = hostFor(c);
      const vcpu = vmFor(host, c).createVcpu();
      const width = 48n;
      let pmis = 0;
      const status = vcpu.run((g) => {
        g.onInterrupt(PMI_VECTOR, () => pmis++);
        g.wrmsr(MSR.X2APIC_LVTPC, BigInt(PMI_VECTOR));
        if (c.vendor === 'intel') g.wrmsr(MSR.IA32_PERF_GLOBAL_CTRL, 0b1n);
        // Full-width counter MSRs where the model has them, else the 48-bit AMD ones.
        const ctr = c.vendor === 'intel' ? MSR.IA32_PMC0 : MSR.MSR_K7_PERFCTR0;
        g.wrmsr(ctr, (1n << width) - 2n);
        g.wrmsr(
          ctlMsr(c, 0),
          EVENTSEL.OS | EVENTSEL.USR | EVENTSEL.INT | EVENTSEL.ENABLE | INSTRUCTIONS,
        );
        // The enabling WRMSR retired (2^48 - 1); the CPUID wraps the counter.
        assert.equal(pmis, 0);
        g.cpuid(0);
        assert.equal(pmis, 1, 'PMI injected at the CPUID');
        if (c.vendor === 'intel') return g.rdmsr(MSR.IA32_PERF_GLOBAL_STATUS) & 1n;
        if (c.cpu === 'amd-zen4') return g.rdmsr(MSR.MSR_AMD64_PERF_CNTR_GLOBAL_STATUS) & 1n;
        return 1n;
      });
      assert.equal(status, 1n, 'GLOBAL_STATUS bit 0');
    });
  });

  describe(`kvm_pmu_is_fastpath_emulation_allowed on ${c.label}`, () => {
    const mediated = c.design === 'mediated';

    it(
      mediated
        ? 'HLT is refused the fastpath while a globally enabled counter counts instructions'
        : 'the legacy design always takes the HLT fastpath',
      () => {
        const host = hostFor(c);
        const vcpu = vmFor(host, c).createVcpu();
        vcpu.run((g) => {
          g.wrmsr(ctlMsr(c, 0), EVENTSEL.OS | EVENTSEL.ENABLE | rawEvent(0xc4, 0));
          const f0 = vcpu.stats.fastpathExits;
          g.hlt();
          assert.equal(vcpu.stats.fastpathExits, f0 + 1, 'no instructions counter: fastpath');
          g.wrmsr(ctlMsr(c, 1), EVENTSEL.OS | EVENTSEL.ENABLE | INSTRUCTIONS);
          g.hlt();
          assert.equal(vcpu.stats.fastpathExits, f0 + (mediated ? 1 : 2));
        });
      },
    );

    if (mediated) {
      it('the event filter is not consulted: a denied instructions counter still refuses the fastpath', () => {
        const host = hostFor(c);
        const vm = vmFor(host, c);
        vm.setPmuEventFilter({ action: 'deny', events: [INSTRUCTIONS] });
        const vcpu = vm.createVcpu();
        vcpu.run((g) => {
          g.wrmsr(ctlMsr(c, 0), EVENTSEL.OS | EVENTSEL.ENABLE | INSTRUCTIONS);
          const f0 = vcpu.stats.fastpathExits;
          g.hlt();
          assert.equal(vcpu.stats.fastpathExits, f0);
        });
      });

      // GLOBAL_CTRL is passed through only to a guest with every counter of the
      // host (kvm_need_perf_global_ctrl_intercept): not on Ice Lake and Sapphire
      // Rapids, whose fixed counter 3 7.0 does not virtualize.
      const passesGlobalCtrl = c.cpu === 'intel-skylake' || c.cpu === 'amd-zen4';
      if (passesGlobalCtrl)
        it('a GLOBAL_CTRL written without an exit decides the next fastpath (refreshed at VM-exit)', () => {
          const host = hostFor(c);
          const vcpu = vmFor(host, c).createVcpu();
          const globalCtrl =
            c.vendor === 'intel' ? MSR.IA32_PERF_GLOBAL_CTRL : MSR.MSR_AMD64_PERF_CNTR_GLOBAL_CTL;
          vcpu.run((g) => {
            g.wrmsr(ctlMsr(c, 0), EVENTSEL.OS | EVENTSEL.ENABLE | INSTRUCTIONS);
            const e0 = vcpu.stats.exits;
            g.wrmsr(globalCtrl, 0n);
            // With every counter the guest could have, GLOBAL_CTRL is passed through.
            assert.equal(vcpu.stats.exits, e0, 'GLOBAL_CTRL passed through');
            const f0 = vcpu.stats.fastpathExits;
            g.hlt();
            assert.equal(vcpu.stats.fastpathExits, f0 + 1, 'disabled globally: fastpath');
            g.wrmsr(globalCtrl, 1n);
            g.hlt();
            assert.equal(vcpu.stats.fastpathExits, f0 + 1, 'enabled globally: refused');
          });
        });
    }
  });

  if (c.design === 'mediated') {
    describe(`kvm_vcpu_has_mediated_pmu on ${c.label}`, () => {
      it('a vCPU whose PMU has version 0 gets no mediated load: host exclude_guest events keep their guest time', () => {
        const enabled = (version: number): bigint => {
          const host = hostFor(c);
          const vm = vmFor(host, c);
          const vcpu = vm.createVcpu({ pmu: { version } });
          const event = host.perf.open(
            { config: 'instructions', excludeGuest: true, pinned: true },
            { cpu: 0 },
          );
          vcpu.run((g) => g.exec({ instructions: 1_000_000 }));
          host.exec({ instructions: 1000 });
          const count = event.read();
          // Either way the event counts host work only (the legacy switch of
          // GLOBAL_CTRL, or perf_load_guest_context) and is never multiplexed.
          assert.equal(count.value, 1000n, `version ${version}: host work only`);
          assert.equal(count.timeRunning, count.timeEnabled);
          return count.timeEnabled;
        };
        // The mediated vCPU's guest time is T_GUEST, taken out of time_enabled
        // (__perf_event_time_ctx); the version-0 vCPU's is not.
        assert.ok(enabled(0) > enabled(2));
      });
    });
  }
}

// __perf_event_time_ctx (kernel/events/core.c): time -= times[T_GUEST] for every
// event with attr.exclude_guest, whatever its PMU; only EVENT_GUEST scheduling
// (perf_skip_pmu_ctx) needs PERF_PMU_CAP_MEDIATED_VPMU.
describe('__perf_event_time_ctx: exclude_guest events lose the mediated guest time on every PMU', () => {
  it('a software cpu-clock event with exclude_guest: enabled == running, both short of the run', () => {
    const guestTime = (excludeGuest: boolean, mediated: boolean): bigint => {
      const host = hostFor({
        cpu: 'intel-sapphire-rapids',
        vendor: 'intel',
        design: mediated ? 'mediated' : 'emulated',
        label: '',
      });
      const e = host.perf.open(
        { pmu: 'software', config: 'cpu-clock', excludeGuest, pinned: true },
        { cpu: 0 },
      );
      host.kvm
        .createVm()
        .createVcpu()
        .run((g) => g.exec({ instructions: 2_000_000 }));
      host.exec({ instructions: 1000 });
      const count = e.read();
      // The software event is never scheduled out for the guest: running == enabled.
      assert.equal(count.timeRunning, count.timeEnabled);
      return count.timeEnabled;
    };
    // The mediated guest's time (T_GUEST) leaves only the exclude_guest event.
    assert.ok(guestTime(true, true) < guestTime(false, true));
    // Without a mediated guest there is no T_GUEST to lose.
    assert.equal(guestTime(true, false), guestTime(false, false));
  });
});
