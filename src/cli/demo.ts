/**
 * `vpmu demo`: a short tour of the foundation through the public API: a host
 * with the mediated vPMU enabled, host events opened and refused, VMs
 * refused, and the accounting that decides.
 */
import type { Command } from 'commander';
import pc from 'picocolors';
import { KernelError } from '../common/errors.ts';
import type { Host } from '../index.ts';
import { runCommand } from './errors.ts';

type Print = (line: string) => void;

function attempt(print: Print, what: string, action: () => string | void): void {
  try {
    const result = action();
    print(`  ${pc.green('ok')}         ${what}${result ? `: ${result}` : ''}`);
  } catch (error) {
    if (!(error instanceof KernelError)) throw error;
    print(
      `  ${pc.red(error.errno.padEnd(10))} ${what}: ${error.message.replace(/^E[A-Z0-9]+: /, '')}`,
    );
  }
}

function counters(host: Host): string {
  return `nr_mediated_pmu_vms=${host.perf.nrMediatedPmuVms} nr_include_guest_events=${host.perf.nrIncludeGuestEvents}`;
}

export async function runDemo(print: Print): Promise<void> {
  // The model is loaded when the tour starts, not when `vpmu --help` does.
  const { createHost } = await import('../index.ts');
  const host = createHost({
    cpu: 'intel-sapphire-rapids',
    cpus: 2,
    kvm: { enableMediatedPmu: true },
  });
  print(pc.bold(`A ${host.model.name} host, 2 CPUs, kvm enable_mediated_pmu=1`));
  for (const pmu of host.perf.pmus)
    print(`  PMU ${pmu.name.padEnd(11)} ${pmu.capabilities.join(', ') || '-'}`);

  print(pc.bold('\n1. Host profiling that counts in guests blocks mediated VMs'));
  const systemWide = host.perf.open({ config: 'cycles' }, { cpu: 0 });
  print(`  perf_event_open(cycles, cpu 0, exclude_guest=0): ${counters(host)}`);
  const vm1 = host.kvm.createVm();
  attempt(print, 'KVM_CREATE_VCPU on a new VM', () => void vm1.createVcpu());
  print(`  dmesg: ${host.dmesg.at(-1)}`);

  print(pc.bold('\n2. Close it, and the VM gets its mediated PMU'));
  host.exec({ instructions: 2_000_000, cycles: 3_000_000 });
  const count = systemWide.read();
  print(`  cycles counted before close: ${count.value} (enabled ${count.timeEnabled} ns)`);
  systemWide.close();
  const vm2 = host.kvm.createVm();
  attempt(print, 'KVM_CREATE_VCPU', () => {
    vm2.createVcpu();
    return `mediatedPmu=${vm2.mediatedPmu}; ${counters(host)}`;
  });

  print(pc.bold('\n3. While a mediated VM exists, host events must exclude the guest'));
  attempt(
    print,
    'open cycles, exclude_guest=0',
    () => void host.perf.open({ config: 'cycles' }, { cpu: 1 }),
  );
  attempt(print, 'open cycles, exclude_guest=1', () => {
    const e = host.perf.open({ config: 'cycles', excludeGuest: true }, { cpu: 1 });
    host.exec({ instructions: 1_000_000, cpu: 1 });
    return `counted ${e.read().value}`;
  });
  attempt(
    print,
    'open uncore_imc data_reads (uncore: exempt)',
    () => void host.perf.open({ pmu: 'uncore_imc', config: 'data_reads' }, { cpu: 0 }),
  );
  attempt(
    print,
    'open task-clock (software: exempt)',
    () => void host.perf.open({ pmu: 'software', config: 'task-clock' }),
  );

  print(pc.bold('\n4. Destroying the VM releases the mediated PMU, once'));
  vm2.destroy();
  vm2.destroy();
  print(`  after two destroys: ${counters(host)}`);
  attempt(
    print,
    'open cycles, exclude_guest=0',
    () => void host.perf.open({ config: 'cycles' }, { cpu: 1 }),
  );
  attempt(print, 'perf_release_mediated_pmu() with nothing to release', () =>
    host.perf.releaseMediatedPmu?.(),
  );
  print(`  dmesg: ${host.dmesg.filter((l) => l.startsWith('WARNING')).join(' | ')}`);

  print(pc.bold('\n5. The NMI watchdog counts in guests too'));
  const watchdogHost = createHost({ nmiWatchdog: true, kvm: { enableMediatedPmu: true } });
  attempt(
    print,
    'KVM_CREATE_VCPU with nmi_watchdog=1',
    () => void watchdogHost.kvm.createVm().createVcpu(),
  );
  const legacy = createHost({ cpu: 'intel-haswell', kvm: { enableMediatedPmu: true } });
  print(`  on intel-haswell: ${legacy.dmesg.join(' ')}`);
}

export function registerDemo(program: Command, options: { isDefault?: boolean } = {}): void {
  program
    .command('demo', { isDefault: options.isDefault ?? false })
    .description('a short tour of the mediated-PMU accounting through the public API')
    .action(async () => {
      await runCommand(program.opts().debug === true, async () => {
        await runDemo((line) => process.stdout.write(`${line}\n`));
        return 0;
      });
    });
}
