/**
 * A bare VM-exit with its world switch: a guest doing CPUID in a loop
 * (kvm-unit-tests' vmexit test), each exit paying the design's put and load.
 * Target (issue 5): at least 1,000,000 simulated VM-exits per wall second.
 */
import { performance } from 'node:perf_hooks';
import { createHost } from '../src/index.ts';

const fmt = (n: number) => n.toLocaleString('en-US', { maximumFractionDigits: 0 });

// A bare VM-exit with its world switch: a guest doing CPUID in a loop
// (kvm-unit-tests' vmexit test), each exit paying the design's put and load.
console.log('\n== VM-exits with their world switch: a guest CPUID loop (median of 5) ==');
for (const [label, enableMediatedPmu] of [
  ['mediated', true],
  ['emulated', false],
] as const) {
  const vcpu = createHost({ kvm: { enableMediatedPmu } }).kvm.createVm().createVcpu();
  vcpu.run((guest) => {
    for (let i = 0; i < 300_000; i++) guest.cpuid(0);
  });
  const exits = 200_000;
  const rates: number[] = [];
  for (let round = 0; round < 5; round++) {
    const started = performance.now();
    vcpu.run((guest) => {
      for (let i = 0; i < exits; i++) guest.cpuid(0);
    });
    rates.push(exits / ((performance.now() - started) / 1000));
  }
  rates.sort((a, b) => a - b);
  console.log(
    `${label.padEnd(9)} ${fmt(rates[2]!).padStart(12)} exits/wall s (target >= 1,000,000)`,
  );
}
