/**
 * Fixed counter 3 and PERF_METRICS as a guest sees them on each series
 * (issue 8 sections 7 and 8), and RFC v1's intercept policy and world switch.
 * Expected values come from the patches:
 * - Linux 7.0: KVM_MAX_NR_INTEL_FIXED_COUNTERS is 3 (arch/x86/include/asm/
 *   kvm_host.h), so a Sapphire Rapids guest has 3 fixed counters; with the
 *   host's 4, kvm_need_any_pmc_intercept() holds and GLOBAL_CTRL / STATUS /
 *   OVF_CTRL and RDPMC are intercepted (pmu.c, vmx_recalc_pmu_msr_intercepts).
 * - "KVM: x86/pmu: Support Intel fixed counter 3 on mediated vPMU" and
 *   "KVM: x86/pmu: Support PERF_METRICS MSR in mediated vPMU" (Dapeng Mi,
 *   Zide Chen, 26 Feb 2026): 4 fixed counters with enable_mediated_pmu only,
 *   PERF_CAPABILITIES bit 15 from the host, GLOBAL_CTRL/STATUS bit 48
 *   unreserved (intel_pmu_refresh), PERF_METRICS passed through
 *   (vmx_recalc_pmu_msr_intercepts), loaded first in intel_mediated_pmu_load
 *   and saved by RDPMC then cleared if non-zero in intel_mediated_pmu_put.
 * - RFC v1, "KVM: x86/pmu: Introduce passthrough vPMU" (26 Jan 2024):
 *   patches 14 (RDPMC), 17 and 34/35 (intercepts), 23/24/27 (save/restore).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GuestFault } from '../../src/common/errors.ts';
import type { CpuModelName } from '../../src/hw/cpu-models.ts';
import { EVTSEL, GLOBAL, LVT, MSR, RDPMC } from '../../src/hw/msr.ts';
import type { GuestCpu } from '../../src/kvm/guest-cpu.ts';
import type { VcpuImpl } from '../../src/kvm/vcpu.ts';
import type { VpmuSeries } from '../../src/kvm/vpmu-series.ts';
import { createHost, HostMachine } from '../../src/sim/host.ts';
import { hex, recorder, splitAtLoad } from './world-switch-recorder.ts';

const PERF_METRICS_CAP = 1n << 15n;
const FIXED_CTR3 = MSR.IA32_FIXED_CTR0 + 3;

function vcpuOn(
  cpu: CpuModelName,
  series: VpmuSeries,
  options: { mediated?: boolean; gpCounters?: number } = {},
): { host: HostMachine; vcpu: VcpuImpl } {
  const host = new HostMachine({
    cpu,
    kvm: { enableMediatedPmu: options.mediated ?? true, series },
  });
  const pmu = options.gpCounters === undefined ? {} : { gpCounters: options.gpCounters };
  const vcpu = host.kvm.createVm().createVcpu({ pmu }) as VcpuImpl;
  return { host, vcpu };
}

function faults(f: () => unknown): boolean {
  try {
    f();
    return false;
  } catch (error) {
    if (error instanceof GuestFault) return true;
    throw error;
  }
}

interface GuestView {
  fixedCounters: number;
  perfMetricsCap: boolean;
  globalCtrlBit48: 'ok' | '#GP';
  fixedCtr3: 'ok' | '#GP';
  perfMetrics: 'ok' | '#GP';
  rdpmcFixed3: 'ok' | '#GP';
}

/** What the guest finds by CPUID, RDMSR/WRMSR and RDPMC. */
function guestView(g: GuestCpu): GuestView {
  const ok = (f: () => unknown) => (faults(f) ? '#GP' : 'ok');
  return {
    fixedCounters: g.cpuid(0xa).edx & 0x1f,
    perfMetricsCap: (g.rdmsr(MSR.IA32_PERF_CAPABILITIES) & PERF_METRICS_CAP) !== 0n,
    globalCtrlBit48: ok(() => g.wrmsr(MSR.IA32_PERF_GLOBAL_CTRL, GLOBAL.PERF_METRICS)),
    fixedCtr3: ok(() => g.rdmsr(FIXED_CTR3)),
    perfMetrics: ok(() => g.rdmsr(MSR.MSR_PERF_METRICS)),
    rdpmcFixed3: ok(() => g.rdpmc(RDPMC.FIXED | 3)),
  };
}

describe('fixed counter 3 and PERF_METRICS, per series', () => {
  it('Linux 7.0 on Sapphire Rapids: 3 fixed counters, no bit 48, FIXED_CTR3 and PERF_METRICS #GP', () => {
    const { vcpu } = vcpuOn('intel-sapphire-rapids', 'linux-7.0');
    assert.deepEqual(vcpu.run(guestView), {
      fixedCounters: 3,
      perfMetricsCap: false,
      globalCtrlBit48: '#GP',
      fixedCtr3: '#GP',
      perfMetrics: '#GP',
      rdpmcFixed3: '#GP',
    });
    const p = vcpu.design.intercepts();
    for (const msr of [MSR.IA32_PERF_GLOBAL_CTRL, MSR.IA32_PERF_GLOBAL_STATUS, FIXED_CTR3])
      assert.equal(p.passthrough.has(msr), false, hex(msr));
    assert.equal(p.rdpmcExits, true);
  });

  for (const cpu of ['intel-sapphire-rapids', 'intel-emerald-rapids', 'intel-icelake'] as const) {
    it(`topdown series on ${cpu}: 4 fixed counters and PERF_METRICS, globals and RDPMC passed through`, () => {
      const { vcpu } = vcpuOn(cpu, 'topdown-metrics');
      assert.equal(vcpu.designName, 'mediated-topdown');
      assert.deepEqual(vcpu.run(guestView), {
        fixedCounters: 4,
        perfMetricsCap: true,
        globalCtrlBit48: 'ok',
        fixedCtr3: 'ok',
        perfMetrics: 'ok',
        rdpmcFixed3: 'ok',
      });
      const p = vcpu.design.intercepts();
      for (const msr of [
        MSR.IA32_PERF_GLOBAL_CTRL,
        MSR.IA32_PERF_GLOBAL_STATUS,
        MSR.IA32_PERF_GLOBAL_OVF_CTRL,
        FIXED_CTR3,
        MSR.MSR_PERF_METRICS,
      ])
        assert.equal(p.passthrough.has(msr), true, hex(msr));
      // Selectors and FIXED_CTR_CTRL stay intercepted (event filter).
      assert.equal(p.passthrough.has(MSR.IA32_FIXED_CTR_CTRL), false);
      assert.equal(p.passthrough.has(MSR.IA32_PERFEVTSEL0), false);
      assert.equal(p.rdpmcExits, false);
    });
  }

  it('topdown series on Skylake (no fixed counter 3): what 7.0 gives, globals passed through (3 = 3)', () => {
    const { vcpu } = vcpuOn('intel-skylake', 'topdown-metrics');
    const view = vcpu.run(guestView);
    assert.equal(view.fixedCounters, 3);
    assert.equal(view.perfMetricsCap, false);
    assert.equal(view.globalCtrlBit48, '#GP');
    assert.equal(vcpu.design.intercepts().passthrough.has(MSR.IA32_PERF_GLOBAL_CTRL), true);
  });

  it('topdown series without the mediated vPMU: the legacy vPMU keeps 3 fixed counters and no PERF_METRICS', () => {
    const { vcpu } = vcpuOn('intel-sapphire-rapids', 'topdown-metrics', { mediated: false });
    assert.equal(vcpu.designName, 'emulated');
    const view = vcpu.run(guestView);
    assert.equal(view.fixedCounters, 3);
    assert.equal(view.perfMetricsCap, false);
    assert.equal(view.perfMetrics, '#GP');
  });

  it('topdown series on AMD (no fixed counters, no PERF_METRICS): nothing changes, 0x329 is #GP', () => {
    const { vcpu } = vcpuOn('amd-zen4', 'topdown-metrics');
    assert.equal(vcpu.designName, 'mediated-topdown');
    assert.equal(vcpu.pmu.nrArchFixedCounters, 0);
    assert.equal(
      vcpu.run((g) => faults(() => g.rdmsr(MSR.MSR_PERF_METRICS))),
      true,
    );
    assert.equal(vcpu.design.intercepts().passthrough.has(MSR.MSR_PERF_METRICS), false);
  });

  it('topdown series: PERF_METRICS is loaded before the status and saved by RDPMC, cleared when non-zero', () => {
    const { host, vcpu } = vcpuOn('intel-sapphire-rapids', 'topdown-metrics', { gpCounters: 1 });
    const rec = recorder(host);
    const { put, load } = vcpu.run((g) => {
      g.wrmsr(MSR.MSR_PERF_METRICS, 0x0102_0304n); // passed through: the hardware's
      rec.clear();
      g.cpuid(0);
      return splitAtLoad(rec.log);
    });
    const metricsRead = put.indexOf(`rdpmc metrics`);
    assert.ok(metricsRead >= 0, `no RDPMC of PERF_METRICS in ${put.join(' | ')}`);
    assert.equal(put[metricsRead + 1], 'wrmsr MSR_PERF_METRICS 0x0');
    const metricsWrite = load.indexOf('wrmsr MSR_PERF_METRICS 0x1020304');
    const statusRead = load.indexOf('rdmsr IA32_PERF_GLOBAL_STATUS');
    assert.ok(metricsWrite >= 0 && metricsWrite < statusRead, load.join(' | '));
    assert.ok(load.indexOf('rdpmc fixed3') < metricsWrite, 'fixed counter 3 is loaded first');
  });
});

describe('RFC v1 passthrough vPMU', () => {
  it('intercepts: counters and globals passed through whatever the host has, selectors intercepted, RDPMC free', () => {
    const { vcpu } = vcpuOn('intel-sapphire-rapids', 'passthrough-rfc-v1', { gpCounters: 2 });
    assert.equal(vcpu.designName, 'rfc-v1');
    const p = vcpu.design.intercepts();
    const expected = [
      MSR.IA32_PERFCTR0,
      MSR.IA32_PERFCTR0 + 1,
      MSR.IA32_PMC0,
      MSR.IA32_PMC0 + 1,
      MSR.IA32_FIXED_CTR0,
      MSR.IA32_FIXED_CTR0 + 1,
      MSR.IA32_FIXED_CTR0 + 2,
      MSR.IA32_PERF_GLOBAL_STATUS,
      MSR.IA32_PERF_GLOBAL_CTRL,
      MSR.IA32_PERF_GLOBAL_OVF_CTRL,
    ];
    assert.deepEqual(
      [...p.passthrough].sort((a, b) => a - b),
      expected.sort((a, b) => a - b),
    );
    assert.equal(p.rdpmcExits, false);
  });

  it('the world switch writes every counter and selector, STATUS_SET always, and clears PERF_METRICS', () => {
    const { host, vcpu } = vcpuOn('intel-sapphire-rapids', 'passthrough-rfc-v1', { gpCounters: 1 });
    const rec = recorder(host);
    const sel = 0xc0n | EVTSEL.EN | EVTSEL.OS | EVTSEL.USR;
    const { put, load } = vcpu.run((g) => {
      g.wrmsr(MSR.IA32_PERFEVTSEL0, sel);
      rec.clear();
      g.cpuid(0);
      return splitAtLoad(rec.log);
    });
    const vmcs = put.shift();
    assert.match(vmcs ?? '', /^vmcs GLOBAL_CTRL <- 0x0/);
    assert.deepEqual(put, [
      'rdmsr IA32_PERF_GLOBAL_STATUS',
      'rdpmc 0',
      'rdmsr IA32_PERFEVTSEL0',
      `wrmsr IA32_PERFEVTSEL0 0x0`,
      ...(put.includes('wrmsr IA32_PMC0 0x0') ? ['wrmsr IA32_PMC0 0x0'] : []),
      'rdmsr IA32_FIXED_CTR_CTRL',
      'rdpmc fixed0',
      'rdpmc fixed1',
      'rdpmc fixed2',
      'perf.putGuestLvtpc',
      `wrmsr X2APIC_LVTPC ${hex(LVT.DM_NMI)}`,
      'perf.putGuestContext',
    ]);
    assert.deepEqual(load.slice(0, 2), ['perf.loadGuestContext', 'perf.loadGuestLvtpc']);
    const after = load.slice(load.indexOf('wrmsr IA32_PERF_GLOBAL_CTRL 0x0'));
    assert.deepEqual(after.slice(0, 3), [
      'wrmsr IA32_PERF_GLOBAL_CTRL 0x0',
      'rdmsr IA32_PERF_GLOBAL_STATUS',
      'wrmsr IA32_PERF_GLOBAL_STATUS_SET 0x0',
    ]);
    assert.ok(after.includes(`wrmsr IA32_PERFEVTSEL0 ${hex(sel)}`));
    // Unconditional: the counter is written though the hardware holds its value.
    assert.ok(after.some((l) => l.startsWith('wrmsr IA32_PMC0 ')));
    // The seven GP counters the guest lacks are zeroed, counter and selector.
    for (let i = 1; i < 8; i++) {
      assert.ok(after.includes(`wrmsr IA32_PMC${i} 0x0`), `PMC${i}`);
      assert.ok(after.includes(`wrmsr IA32_PERFEVTSEL${i} 0x0`), `PERFEVTSEL${i}`);
    }
    assert.ok(after.includes('wrmsr IA32_FIXED_CTR_CTRL 0x0'));
    for (let i = 0; i < 3; i++) assert.ok(after.includes(`wrmsr IA32_FIXED_CTR${i} 0x0`));
    assert.ok(after.includes('wrmsr MSR_PERF_METRICS 0x0'));
    assert.ok(after[after.length - 1]?.startsWith('vmcs GLOBAL_CTRL <- '));
  });

  it('is Intel only: on AMD the module keeps the legacy vPMU and says why', () => {
    const host = createHost({
      cpu: 'amd-zen4',
      kvm: { enableMediatedPmu: true, series: 'passthrough-rfc-v1' },
    });
    assert.equal(host.kvm.params.enableMediatedPmu, false);
    assert.ok(host.dmesg.some((l) => /RFC v1 is implemented for Intel only/.test(l)));
  });
});

describe('kvm.series validation', () => {
  it('an unknown series is a RangeError naming the choices; a non-string a TypeError', () => {
    assert.throws(
      () => createHost({ kvm: { series: 'topdown' as VpmuSeries } }),
      (e: Error) =>
        e instanceof RangeError &&
        /kvm\.series must be one of linux-7\.0, topdown-metrics, passthrough-rfc-v1, got 'topdown'/.test(
          e.message,
        ),
    );
    assert.throws(() => createHost({ kvm: { series: 7 as unknown as VpmuSeries } }), TypeError);
  });
});
