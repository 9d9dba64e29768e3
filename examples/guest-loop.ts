/**
 * A guest measures a loop with two counters, on each vPMU design, first on
 * a quiet host, then with the host's pinned events holding every GP counter.
 *   node --import tsx examples/guest-loop.ts
 */
import { createHost, MSR } from '../src/index.ts';

const EN = 1n << 22n;
const OS_USR = (1n << 16n) | (1n << 17n);
const INSTRUCTIONS = 0xc0n; // event select 0xC0, umask 0
const BRANCHES = 0xc4n;

function measureLoop(mediated: boolean, hostContention: boolean) {
  const host = createHost({ cpu: 'intel-sapphire-rapids', kvm: { enableMediatedPmu: mediated } });
  if (hostContention) {
    // Host profiling that excludes guests, pinned on all 8 GP counters of CPU 0.
    for (let i = 0; i < 8; i++)
      host.perf.open({ config: 0x00c4 + (i << 8), pinned: true, excludeGuest: true }, { cpu: 0 });
  }
  const vcpu = host.kvm.createVm().createVcpu({ hostCpu: 0 });
  const counts = vcpu.run((guest) => {
    guest.wrmsr(MSR.IA32_PMC0, 0n);
    guest.wrmsr(MSR.IA32_PMC1, 0n);
    guest.wrmsr(MSR.IA32_PERFEVTSEL0, INSTRUCTIONS | OS_USR | EN);
    guest.wrmsr(MSR.IA32_PERFEVTSEL1, BRANCHES | OS_USR | EN);
    guest.wrmsr(MSR.IA32_PERF_GLOBAL_CTRL, 0b11n);
    guest.exec({ instructions: 10_000_000, branches: 2_000_000 }); // the loop
    guest.wrmsr(MSR.IA32_PERF_GLOBAL_CTRL, 0n);
    return { instructions: guest.rdpmc(0), branches: guest.rdpmc(1) };
  });
  return {
    design: host.kvm.params.enableMediatedPmu ? 'mediated' : 'emulated',
    ...counts,
    exits: vcpu.stats.exits,
  };
}

for (const contention of [false, true]) {
  console.log(contention ? 'host pinned events hold every GP counter:' : 'quiet host:');
  for (const mediated of [false, true]) {
    const r = measureLoop(mediated, contention);
    console.log(
      `  ${r.design.padEnd(9)} instructions=${r.instructions} branches=${r.branches} exits=${r.exits}`,
    );
  }
}
