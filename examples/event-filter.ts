/**
 * A VMM denies its guest two events with KVM_SET_PMU_EVENT_FILTER, written
 * as against <linux/kvm.h>; the guest programs instructions on a
 * general-purpose counter and on fixed counter 0, and branches, and reads
 * them back, on each vPMU design. The list governs general-purpose counters
 * only (is_gp_event_allowed); fixed counters obey fixedCounterBitmap alone.
 *   node --import tsx examples/event-filter.ts
 */
import { createHost, KVM_PMU_EVENT_DENY, MSR } from '../src/index.ts';

const EN = 1n << 22n;
const OS_USR = (1n << 16n) | (1n << 17n);
const INSTRUCTIONS = 0x00c0n; // event select 0xC0, umask 0
const BRANCHES = 0x00c4n;
const RDPMC_FIXED = 1 << 30;

function run(mediated: boolean, fixedCounterBitmap: number) {
  const host = createHost({ cpu: 'intel-sapphire-rapids', kvm: { enableMediatedPmu: mediated } });
  const vm = host.kvm.createVm();
  vm.setPmuEventFilter({
    action: KVM_PMU_EVENT_DENY,
    events: [INSTRUCTIONS, BRANCHES],
    fixedCounterBitmap,
  });
  const vcpu = vm.createVcpu({ hostCpu: 0 });
  const counts = vcpu.run((guest) => {
    guest.wrmsr(MSR.IA32_PERFEVTSEL0, INSTRUCTIONS | OS_USR | EN);
    guest.wrmsr(MSR.IA32_PERFEVTSEL1, BRANCHES | OS_USR | EN);
    guest.wrmsr(MSR.IA32_FIXED_CTR_CTRL, 0b0011n); // fixed counter 0 (instructions): OS and USR
    guest.wrmsr(MSR.IA32_PERF_GLOBAL_CTRL, 0b11n | (1n << 32n));
    guest.exec({ instructions: 1_000_000, branches: 200_000 });
    guest.wrmsr(MSR.IA32_PERF_GLOBAL_CTRL, 0n);
    return {
      // The guest reads its selector back as it wrote it, ENABLE set: it cannot tell.
      selector0: guest.rdmsr(MSR.IA32_PERFEVTSEL0) === (INSTRUCTIONS | OS_USR | EN),
      gpInstructions: guest.rdpmc(0),
      gpBranches: guest.rdpmc(1),
      fixedInstructions: guest.rdpmc(RDPMC_FIXED | 0), // ECX bit 30 selects the fixed counters
    };
  });
  return { design: vm.design, ...counts };
}

for (const bitmap of [0, 1]) {
  console.log(`deny [instructions, branches], fixedCounterBitmap ${bitmap}:`);
  for (const mediated of [false, true]) {
    const r = run(mediated, bitmap);
    console.log(
      `  ${r.design.padEnd(9)} gp instructions=${r.gpInstructions} gp branches=${r.gpBranches}` +
        ` fixed instructions=${r.fixedInstructions} selector as written=${r.selector0}`,
    );
  }
}
