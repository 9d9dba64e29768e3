/**
 * A VM's lifetime, as the kernel's file references make it (issue:
 * reliability part 2, items 2 and 3).
 *
 * - A running vCPU holds a reference on its VM: kvm_destroy_vm runs at the
 *   last kvm_put_kvm, so destroy() while a vCPU is inside KVM_RUN completes
 *   when that run returns.
 * - After destroy() the VM's and vCPUs' files are closed: KVM_RUN is refused
 *   (EBADF: destroy closed the files, and fs/ioctl.c refuses an ioctl on a
 *   closed descriptor so; upstream's -EIO is for kvm_vm_dead) and runs
 *   nothing; the mediated PMU is released exactly once
 *   (perf_release_mediated_pmu), the perf-emulated design's backing events
 *   exactly once (kvm_pmu_destroy -> perf_event_release_kernel).
 * - Host work on the CPU a guest program occupies is refused: it would be
 *   counted on the wrong side of the world switch.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from '../common/fc.ts';
import { KvmError, MSR, createHost, type GuestCpu, type Host } from '../../src/index.ts';

const ENABLE_OS_USR = (1n << 22n) | (1n << 16n) | (1n << 17n);
const BRANCHES = 0xc4n;

function kvmErrno(errno: string): (e: unknown) => boolean {
  return (e) => e instanceof KvmError && e.errno === errno;
}

function countOnAllGp(g: GuestCpu, gp: number): void {
  for (let i = 0; i < gp; i++) g.wrmsr(MSR.IA32_PERFEVTSEL0 + i, ENABLE_OS_USR | BRANCHES);
  g.wrmsr(MSR.IA32_PERF_GLOBAL_CTRL, (1n << BigInt(gp)) - 1n);
  g.exec({ instructions: 1000, branches: 100 });
}

/** Every GP counter of CPU 0 can be had by host pinned events: nothing of KVM's is left. */
function hostHasEveryGpCounter(host: Host): boolean {
  const events = [];
  for (let i = 0; i < host.model.gpCounters; i++)
    events.push(
      host.perf.open({ config: 'branches', pinned: true, excludeGuest: true }, { cpu: 0 }),
    );
  host.exec({ instructions: 1000, branches: 100, cpu: 0 });
  const all = events.every((e) => e.read().value === 100n);
  for (const e of events) e.close();
  return all;
}

const DESIGNS = [
  { name: 'mediated', enableMediatedPmu: true },
  { name: 'emulated', enableMediatedPmu: false },
] as const;

describe('VM lifetime: nothing runs after destroy, everything released once', () => {
  for (const d of DESIGNS) {
    it(`${d.name}: run after destroy is EBADF (a closed file) and runs nothing`, () => {
      const host = createHost({ kvm: { enableMediatedPmu: d.enableMediatedPmu } });
      const vm = host.kvm.createVm();
      const vcpu = vm.createVcpu();
      vcpu.run((g) => countOnAllGp(g, host.model.gpCounters));
      vm.destroy();
      let ran = false;
      assert.throws(
        () =>
          vcpu.run(() => {
            ran = true;
          }),
        kvmErrno('EBADF'),
      );
      assert.equal(ran, false);
      assert.equal(host.perf.nrMediatedPmuVms, 0);
      // Host events that count in guests are admitted again: no mediated VM is left.
      host.perf.open({ config: 'instructions' }, { cpu: 0 }).close();
      assert.ok(hostHasEveryGpCounter(host), 'KVM released every counter it held');
      assert.deepEqual(
        host.dmesg.filter((l) => l.includes('WARN')),
        [],
      );
    });

    it(`${d.name}: destroy inside run is deferred to the end of KVM_RUN`, () => {
      const host = createHost({ kvm: { enableMediatedPmu: d.enableMediatedPmu } });
      const vm = host.kvm.createVm();
      const vcpu = vm.createVcpu();
      vcpu.run((g) => {
        countOnAllGp(g, host.model.gpCounters);
        vm.destroy();
        // The VM is closing: no new vCPU or filter, but this run goes on.
        assert.throws(() => vm.createVcpu(), kvmErrno('EBADF'));
        g.exec({ instructions: 10, branches: 1 });
        assert.equal(host.perf.nrMediatedPmuVms, d.enableMediatedPmu ? 1 : 0);
      });
      assert.equal(host.perf.nrMediatedPmuVms, 0);
      assert.equal(host.perf.nrIncludeGuestEvents, 0);
      assert.throws(() => vcpu.run(() => 0), kvmErrno('EBADF'));
      host.perf.open({ config: 'instructions' }, { cpu: 0 }).close();
      assert.equal(host.perf.nrIncludeGuestEvents, 0);
      assert.ok(hostHasEveryGpCounter(host));
      assert.deepEqual(
        host.dmesg.filter((l) => l.includes('WARN')),
        [],
      );
    });

    it(`${d.name}: host.exec on the CPU a guest program occupies is refused`, () => {
      const host = createHost({ cpus: 2, kvm: { enableMediatedPmu: d.enableMediatedPmu } });
      const vcpu = host.kvm.createVm().createVcpu({ hostCpu: 0 });
      const hostEvent = host.perf.open({ config: 'branches', excludeGuest: true }, { cpu: 0 });
      const guestBranches = vcpu.run((g) => {
        g.wrmsr(MSR.IA32_PMC0, 0n);
        g.wrmsr(MSR.IA32_PERFEVTSEL0, ENABLE_OS_USR | BRANCHES);
        g.wrmsr(MSR.IA32_PERF_GLOBAL_CTRL, 1n);
        assert.throws(
          () => host.exec({ instructions: 500, branches: 50, cpu: 0 }),
          kvmErrno('EBUSY'),
        );
        // Another CPU is free for host work.
        host.exec({ instructions: 500, branches: 50, cpu: 1 });
        return g.rdpmc(0);
      });
      assert.equal(guestBranches, 0n);
      assert.equal(hostEvent.read().value, 0n);
    });
  }

  it('property: any interleaving of runs and destroy releases everything exactly once', () => {
    const step = fc.constantFrom('run', 'run-destroying', 'destroy', 'host-exec');
    fc.assert(
      fc.property(
        fc.constantFrom(...DESIGNS),
        fc.array(fc.tuple(fc.nat(2), step), { maxLength: 12 }),
        (d, steps) => {
          const host = createHost({ kvm: { enableMediatedPmu: d.enableMediatedPmu } });
          const vms = [0, 1, 2].map(() => host.kvm.createVm());
          const vcpus = vms.map((vm) => vm.createVcpu());
          const destroyed = [false, false, false];
          for (const [i, what] of steps) {
            const vm = vms[i]!;
            const vcpu = vcpus[i]!;
            if (what === 'destroy') {
              vm.destroy();
              destroyed[i] = true;
            } else if (what === 'host-exec') {
              host.exec({ instructions: 100, branches: 10 });
            } else {
              let ran = false;
              const go = () =>
                vcpu.run((g) => {
                  ran = true;
                  countOnAllGp(g, host.model.gpCounters);
                  if (what === 'run-destroying') vm.destroy();
                });
              if (destroyed[i]) assert.throws(go, kvmErrno('EBADF'));
              else go();
              assert.equal(ran, !destroyed[i]);
              if (what === 'run-destroying') destroyed[i] = true;
            }
            const live = destroyed.filter((x) => !x).length;
            assert.equal(host.perf.nrMediatedPmuVms, d.enableMediatedPmu ? live : 0);
          }
          for (const vm of vms) vm.destroy();
          assert.equal(host.perf.nrMediatedPmuVms, 0);
          assert.equal(host.perf.nrIncludeGuestEvents, 0);
          assert.ok(hostHasEveryGpCounter(host));
          assert.deepEqual(
            host.dmesg.filter((l) => l.includes('WARN')),
            [],
          );
        },
      ),
      { numRuns: 60 },
    );
  });
});
