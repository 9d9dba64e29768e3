/**
 * The public Perf (src/perf/perf.ts, docs/api.md "Perf"): the PMUs it lists, and
 * perf_event_open with every errno it can return, through host.perf only.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createHost, KernelError, PerfError, type Host } from '../../src/index.ts';
import { CPU_MODELS, type CpuModel, type CpuModelName } from '../../src/hw/cpu-models.ts';
import { throwsErrno } from './helpers.ts';

const host = (options: Parameters<typeof createHost>[0] = {}): Host => createHost(options);

describe('pmus', () => {
  it("lists 'cpu', 'software' and the vendor's uncore PMU", () => {
    assert.deepEqual(
      host().perf.pmus.map((p) => p.name),
      ['cpu', 'software', 'uncore_imc'],
    );
    assert.deepEqual(
      host({ cpu: 'amd-zen4' }).perf.pmus.map((p) => p.name),
      ['cpu', 'software', 'amd_df'],
    );
  });

  // intel_pmu_init marks every Intel core PMU, amd_core_pmu_init one with PerfMonV2;
  // KVM's own prerequisites (v4+, full-width writes) are a separate check.
  it('advertises MEDIATED_VPMU on every Intel core PMU and an AMD one with PerfMonV2', () => {
    const expected: Record<CpuModelName, boolean> = {
      'intel-sapphire-rapids': true,
      'intel-emerald-rapids': true,
      'intel-icelake': true,
      'intel-skylake': true,
      'intel-haswell': true,
      'amd-zen4': true,
      'amd-zen3': false,
    };
    for (const [cpu, capable] of Object.entries(expected)) {
      const pmus = host({ cpu: cpu as CpuModelName }).perf.pmus;
      assert.deepEqual(pmus[0]!.capabilities, capable ? ['MEDIATED_VPMU'] : [], cpu);
      assert.ok(
        pmus.slice(1).every((p) => p.capabilities.length === 0),
        'software and uncore are exempt',
      );
    }
    const noFw: CpuModel = {
      ...CPU_MODELS['intel-skylake'],
      name: 'skl-no-fw',
      fullWidthWrites: false,
      perfCapabilities: 0n,
    };
    // perf marks it anyway; KVM's own check (full-width writes) refuses the mediated vPMU.
    const h = host({ cpu: noFw, kvm: { enableMediatedPmu: true } });
    assert.deepEqual(h.perf.pmus[0]!.capabilities, ['MEDIATED_VPMU']);
    assert.equal(h.kvm.params.enableMediatedPmu, false);
  });

  it('is read-only', () => {
    const perf = host().perf;
    assert.ok(Object.isFrozen(perf));
    assert.ok(Object.isFrozen(perf.pmus[0]));
  });
});

describe('events through the public API', () => {
  it('read() returns bigints; name, state and samples describe the event', () => {
    const h = host();
    const e = h.perf.open({ config: 0x00c4, samplePeriod: 3 }, { cpu: 0 });
    h.exec({ instructions: 100, branches: 10 });
    const r = e.read();
    assert.deepEqual(
      [typeof r.value, typeof r.timeEnabled, typeof r.timeRunning],
      ['bigint', 'bigint', 'bigint'],
    );
    assert.deepEqual([r.value, r.timeEnabled], [10n, 50n]);
    assert.deepEqual([e.name, e.state, e.samples], ['rc4', 'active', 3]);
    assert.ok(typeof e.id === 'number' && e.id > 0);
    assert.notEqual(h.perf.open({ config: 'cycles' }, { cpu: 0 }).id, e.id);
  });
});

describe('perf_event_open errnos', () => {
  it('errors are PerfErrors (KernelErrors) with the kernel return code', () => {
    try {
      host().perf.open({ pmu: 'nope', config: 0 });
      assert.fail('no error');
    } catch (error) {
      assert.ok(error instanceof PerfError && error instanceof KernelError);
      assert.deepEqual([error.errno, error.code], ['ENOENT', -2]);
    }
  });

  it('ENOENT: unknown PMU, unknown named event, event unavailable per CPUID EBX', () => {
    const h = host();
    throwsErrno(
      () => h.perf.open({ pmu: 'uncore_cha', config: 0 }, { cpu: 0 }),
      'ENOENT',
      PerfError,
    );
    throwsErrno(() => h.perf.open({ config: 'l1d-misses' }, { cpu: 0 }), 'ENOENT');
    throwsErrno(
      () => h.perf.open({ pmu: 'software', config: 'page-faults' }, { cpu: 0 }),
      'ENOENT',
    );
    throwsErrno(() => h.perf.open({ pmu: 'software', config: 7 }, { cpu: 0 }), 'ENOENT');
    throwsErrno(
      () => h.perf.open({ pmu: 'uncore_imc', config: 'data_writes' }, { cpu: 0 }),
      'ENOENT',
    );
    const model: CpuModel = {
      ...CPU_MODELS['intel-sapphire-rapids'],
      name: 'custom',
      unavailableEvents: (1 << 6) | (1 << 3),
    };
    const custom = host({ cpu: model });
    throwsErrno(() => custom.perf.open({ config: 'branch-misses' }, { cpu: 0 }), 'ENOENT');
    throwsErrno(() => custom.perf.open({ config: 'cache-references' }, { cpu: 0 }), 'ENOENT');
    custom.perf.open({ config: 'branches' }, { cpu: 0 });
    custom.perf.open({ config: 0x00c5 }, { cpu: 0 }); // the raw encoding is still accepted
  });

  it('EINVAL: bad cpu or pid, pid -1 with cpu -1 (a raw EN bit is dropped, not refused)', () => {
    const h = host({ cpus: 2 });
    // x86_pmu_get_event_config() masks attr.config with config_mask: EN (bit 22) goes.
    assert.equal(h.perf.open({ config: 0x4000c4 }, { cpu: 0 }).state, 'active');
    for (const cpu of [2, -2, 0.5])
      throwsErrno(() => h.perf.open({ config: 'cycles' }, { cpu }), 'EINVAL');
    for (const pid of [-2, 1.5])
      throwsErrno(() => h.perf.open({ config: 'cycles' }, { pid }), 'EINVAL');
    throwsErrno(() => h.perf.open({ config: 'cycles' }, { pid: -1 }), 'EINVAL');
    throwsErrno(() => h.perf.open({ config: 'cycles' }, { pid: -1, cpu: -1 }), 'EINVAL');
    h.perf.open({ config: 'cycles' }, { pid: -1, cpu: 1 });
    h.perf.open({ config: 'cycles' }, { pid: 3, cpu: -1 });
  });

  it('EINVAL: sampling attributes (period with frequency, frequency above 100000)', () => {
    const h = host();
    throwsErrno(
      () => h.perf.open({ config: 'cycles', samplePeriod: 10, sampleFreq: 10 }, { cpu: 0 }),
      'EINVAL',
    );
    throwsErrno(() => h.perf.open({ config: 'cycles', sampleFreq: 100_001 }, { cpu: 0 }), 'EINVAL');
    h.perf.open({ config: 'cycles', sampleFreq: 100_000 }, { cpu: 0 });
  });

  it('EINVAL: groups: a pinned sibling, a sibling as group, across CPUs, across contexts, mixing hardware PMUs', () => {
    const h = host({ cpus: 2 });
    const leader = h.perf.open({ config: 'cycles' }, { cpu: 0 });
    throwsErrno(
      () => h.perf.open({ config: 'branches', pinned: true }, { cpu: 0 }, leader),
      'EINVAL',
    );
    const sibling = h.perf.open({ config: 'branches' }, { cpu: 0 }, leader);
    throwsErrno(() => h.perf.open({ config: 'branches' }, { cpu: 0 }, sibling), 'EINVAL');
    throwsErrno(() => h.perf.open({ config: 'branches' }, { cpu: 1 }, leader), 'EINVAL');
    throwsErrno(() => h.perf.open({ config: 'branches' }, { pid: 2, cpu: 0 }, leader), 'EINVAL');
    const task = h.perf.open({ config: 'cycles' }, { pid: 2 });
    throwsErrno(() => h.perf.open({ config: 'branches' }, { pid: 3 }, task), 'EINVAL');
    throwsErrno(() => h.perf.open({ config: 'branches' }, { pid: 2, cpu: 0 }, task), 'EINVAL');
    h.perf.open({ config: 'branches' }, { pid: 2 }, task);
    throwsErrno(
      () => h.perf.open({ pmu: 'uncore_imc', config: 'data_reads' }, { cpu: 0 }, leader),
      'EINVAL',
    );
    const uncore = h.perf.open({ pmu: 'uncore_imc', config: 'data_reads' }, { cpu: 0 });
    throwsErrno(() => h.perf.open({ config: 'cycles' }, { cpu: 0 }, uncore), 'EINVAL');
    // Software events join any group.
    h.perf.open({ pmu: 'software', config: 'cpu-clock' }, { cpu: 0 }, uncore);
    h.perf.open({ pmu: 'software', config: 'cpu-clock' }, { cpu: 0 }, leader);
    const sw = h.perf.open({ pmu: 'software', config: 'cpu-clock' }, { cpu: 0 });
    h.perf.open({ config: 'cycles' }, { cpu: 0 }, sw);
    throwsErrno(
      () => h.perf.open({ pmu: 'uncore_imc', config: 'data_reads' }, { cpu: 0 }, sw),
      'EINVAL',
      PerfError,
    );
  });

  it('EINVAL: an uncore event with a task, without a CPU, with any exclude bit, or sampling', () => {
    const h = host();
    const uncore = { pmu: 'uncore_imc', config: 'data_reads' };
    throwsErrno(() => h.perf.open(uncore, { pid: 1, cpu: 0 }), 'EINVAL');
    throwsErrno(() => h.perf.open(uncore, { pid: 1 }), 'EINVAL');
    throwsErrno(() => h.perf.open(uncore), 'EINVAL');
    for (const bit of ['excludeUser', 'excludeKernel', 'excludeGuest', 'excludeHost'] as const) {
      throwsErrno(() => h.perf.open({ ...uncore, [bit]: true }, { cpu: 0 }), 'EINVAL');
    }
    throwsErrno(() => h.perf.open({ ...uncore, samplePeriod: 1000 }, { cpu: 0 }), 'EINVAL');
    throwsErrno(() => h.perf.open({ ...uncore, sampleFreq: 1000 }, { cpu: 0 }), 'EINVAL');
    h.perf.open({ ...uncore, config: 0 }, { cpu: 0 });
    throwsErrno(
      () =>
        host({ cpu: 'amd-zen4' }).perf.open(
          { pmu: 'amd_df', config: 'data_reads', excludeGuest: true },
          { cpu: 0 },
        ),
      'EINVAL',
    );
  });

  it('EBADF: a closed group leader, a handle from another host, reading a closed event', () => {
    const h = host();
    const leader = h.perf.open({ config: 'cycles' }, { cpu: 0 });
    leader.close();
    throwsErrno(() => h.perf.open({ config: 'branches' }, { cpu: 0 }, leader), 'EBADF');
    throwsErrno(() => leader.read(), 'EBADF');
    const foreign = host().perf.open({ config: 'cycles' }, { cpu: 0 });
    throwsErrno(() => h.perf.open({ config: 'branches' }, { cpu: 0 }, foreign), 'EBADF');
  });

  it('EFAULT: attr or target that is not an object', () => {
    const h = host();
    throwsErrno(() => h.perf.open(null as never), 'EFAULT');
    throwsErrno(() => h.perf.open({ config: 'cycles' }, null as never), 'EFAULT');
  });

  it('EOPNOTSUPP: an include-guest cpu event while a mediated VM exists; not for exclude_guest, software or uncore', () => {
    const h = host();
    h.perf.createMediatedPmu!();
    throwsErrno(() => h.perf.open({ config: 'cycles' }, { cpu: 0 }), 'EOPNOTSUPP', PerfError);
    throwsErrno(
      () => h.perf.open({ config: 'cycles', excludeHost: true }, { cpu: 0 }),
      'EOPNOTSUPP',
    );
    h.perf.open({ config: 'cycles', excludeGuest: true }, { cpu: 0 });
    h.perf.open({ pmu: 'software', config: 'cpu-clock' }, { cpu: 0 });
    h.perf.open({ pmu: 'uncore_imc', config: 'data_reads' }, { cpu: 0 });
    assert.equal(h.perf.nrIncludeGuestEvents, 0);
  });

  it('EBUSY: createMediatedPmu while include-guest events exist', () => {
    const h = host();
    h.perf.open({ config: 'instructions' }, { pid: 4 });
    throwsErrno(() => h.perf.createMediatedPmu!(), 'EBUSY', PerfError);
    try {
      h.perf.createMediatedPmu!();
    } catch (error) {
      assert.equal((error as PerfError).code, -16);
    }
    assert.equal(h.perf.nrMediatedPmuVms, 0);
  });
});
