import { describe, test } from 'node:test';
import assert from 'node:assert/strict';

import {
  CPU_MODELS,
  CPU_MODEL_NAMES,
  qualifiesForMediatedVpmu,
  type CpuModel,
  type CpuModelName,
} from '../../src/hw/cpu-models.ts';
import { PERF_CAP } from '../../src/hw/msr.ts';
import { resolveCpuModel } from '../../src/hw/cpu-model-check.ts';

/**
 * The real parts (SDM CPUID 0xA as read on them, docs/api.md "CPU model presets" table,
 * Linux's boot banner): per logical CPU with SMT on.
 */
const REAL: Record<
  CpuModelName,
  {
    vendor: 'intel' | 'amd';
    version: number;
    gp: number;
    fixed: number;
    gpWidth: number;
    fixedWidth: number;
    fw: boolean;
    perfMonV2: boolean;
    extCore: boolean;
    eventsLength: number;
    fixedMask: number;
    slots: number;
    /** PERF_CAPABILITIES [5:0] LBR format, [11:8] PEBS record format. */
    lbr?: number;
    pebs?: number;
    metrics?: boolean;
  }
> = {
  // Haswell-EP: CPUID.0AH EAX=0x07300403 EDX=0x603; LBR format 4 (EIP+flags2), PEBS fmt2.
  'intel-haswell': {
    vendor: 'intel',
    version: 3,
    gp: 4,
    fixed: 3,
    gpWidth: 48,
    fixedWidth: 48,
    fw: true,
    perfMonV2: false,
    extCore: false,
    eventsLength: 7,
    fixedMask: 0,
    slots: 0,
    lbr: 4,
    pebs: 2,
    metrics: false,
  },
  // Skylake-SP: v4, LBR format 5 (LBR_INFO), PEBS fmt3.
  'intel-skylake': {
    vendor: 'intel',
    version: 4,
    gp: 4,
    fixed: 3,
    gpWidth: 48,
    fixedWidth: 48,
    fw: true,
    perfMonV2: false,
    extCore: false,
    eventsLength: 7,
    fixedMask: 0,
    slots: 0,
    lbr: 5,
    pebs: 3,
    metrics: false,
  },
  // Ice Lake-SP: v5, 8 GP, 4 fixed (slots), 5-wide, PEBS fmt4 + baseline, perf metrics.
  'intel-icelake': {
    vendor: 'intel',
    version: 5,
    gp: 8,
    fixed: 4,
    gpWidth: 48,
    fixedWidth: 48,
    fw: true,
    perfMonV2: false,
    extCore: false,
    eventsLength: 8,
    fixedMask: 0xf,
    slots: 5,
    pebs: 4,
    metrics: true,
  },
  // Sapphire Rapids (Golden Cove): arch LBR (0x3f), "PEBS fmt4+-baseline", 6-wide.
  'intel-sapphire-rapids': {
    vendor: 'intel',
    version: 5,
    gp: 8,
    fixed: 4,
    gpWidth: 48,
    fixedWidth: 48,
    fw: true,
    perfMonV2: false,
    extCore: false,
    eventsLength: 8,
    fixedMask: 0xf,
    slots: 6,
    lbr: 0x3f,
    pebs: 4,
    metrics: true,
  },
  // Emerald Rapids: the Sapphire Rapids core PMU (Raptor Cove).
  'intel-emerald-rapids': {
    vendor: 'intel',
    version: 5,
    gp: 8,
    fixed: 4,
    gpWidth: 48,
    fixedWidth: 48,
    fw: true,
    perfMonV2: false,
    extCore: false,
    eventsLength: 8,
    fixedMask: 0xf,
    slots: 6,
    lbr: 0x3f,
    pebs: 4,
    metrics: true,
  },
  // Zen 3: six core counters (PerfCtrExtCore), no PerfMonV2, 48-bit, no fixed counters.
  'amd-zen3': {
    vendor: 'amd',
    version: 1,
    gp: 6,
    fixed: 0,
    gpWidth: 48,
    fixedWidth: 0,
    fw: false,
    perfMonV2: false,
    extCore: true,
    eventsLength: 0,
    fixedMask: 0,
    slots: 0,
  },
  // Zen 4: PerfMonV2, six core counters.
  'amd-zen4': {
    vendor: 'amd',
    version: 2,
    gp: 6,
    fixed: 0,
    gpWidth: 48,
    fixedWidth: 0,
    fw: false,
    perfMonV2: true,
    extCore: true,
    eventsLength: 0,
    fixedMask: 0,
    slots: 0,
  },
};

describe('CPU model presets against the real parts', () => {
  test('every preset name of docs/api.md exists, and nothing else', () => {
    assert.deepEqual([...CPU_MODEL_NAMES].sort(), Object.keys(REAL).sort());
  });

  for (const name of CPU_MODEL_NAMES) {
    test(name, () => {
      const m = CPU_MODELS[name];
      const r = REAL[name];
      assert.equal(m.name, name);
      assert.equal(m.vendor, r.vendor, 'vendor');
      assert.equal(m.pmuVersion, r.version, 'PMU version');
      assert.equal(m.gpCounters, r.gp, 'GP counters');
      assert.equal(m.fixedCounters, r.fixed, 'fixed counters');
      assert.equal(m.gpWidth, r.gpWidth, 'GP width');
      assert.equal(m.fixedWidth, r.fixedWidth, 'fixed width');
      assert.equal(m.fullWidthWrites, r.fw, 'full-width writes');
      assert.equal(m.perfMonV2, r.perfMonV2, 'PerfMonV2');
      assert.equal(m.perfCtrExtCore, r.extCore, 'PerfCtrExtCore');
      assert.equal(m.unavailableEvents, 0, 'every architectural event available');
      assert.equal(m.eventsLength, r.eventsLength, 'CPUID 0xA EBX length');
      assert.equal(m.fixedCounterMask, r.fixedMask, 'fixed counter bitmap');
      assert.equal(m.topdownSlotsPerCycle, r.slots, 'slots per cycle');
      assert.ok(m.tscHz >= 1e9 && m.tscHz <= 5e9, 'plausible TSC');
      if (r.vendor === 'amd') {
        assert.equal(m.perfCapabilities, 0n, 'AMD has no PERF_CAPABILITIES');
        return;
      }
      const caps = m.perfCapabilities;
      assert.equal((caps & PERF_CAP.FW_WRITES) !== 0n, r.fw, 'PERF_CAPABILITIES.FW_WRITE agrees');
      assert.equal(
        (caps & PERF_CAP.PERF_METRICS) !== 0n,
        r.metrics,
        'PERF_CAPABILITIES.PERF_METRICS',
      );
      if (r.lbr !== undefined) assert.equal(Number(caps & 0x3fn), r.lbr, 'LBR format');
      if (r.pebs !== undefined) assert.equal(Number((caps >> 8n) & 0xfn), r.pebs, 'PEBS format');
      assert.equal(caps >> 17n, 0n, 'no bits above 16');
    });
  }

  test('presets are frozen', () => {
    assert.ok(Object.isFrozen(CPU_MODELS));
  });

  test('v5 parts have topdown slots exactly when they have a fourth fixed counter', () => {
    for (const name of CPU_MODEL_NAMES) {
      const m = CPU_MODELS[name];
      assert.equal(m.fixedCounters >= 4, m.topdownSlotsPerCycle > 0, name);
      assert.equal(m.fixedCounterMask, m.pmuVersion >= 5 ? (1 << m.fixedCounters) - 1 : 0, name);
    }
  });
});

describe('resolveCpuModel', () => {
  test('defaults to Sapphire Rapids (docs/api.md HostOptions.cpu)', () => {
    assert.equal(resolveCpuModel(undefined), CPU_MODELS['intel-sapphire-rapids']);
  });
  test('names resolve to the preset objects', () => {
    for (const name of CPU_MODEL_NAMES) assert.equal(resolveCpuModel(name), CPU_MODELS[name]);
  });
  test('a custom model is used as given', () => {
    const custom = { ...CPU_MODELS['amd-zen4'], name: 'mine', gpCounters: 4 };
    assert.equal(resolveCpuModel(custom), custom);
  });
  test('a custom model that is not one is refused naming the field, before a CPU is built', () => {
    const zen4 = CPU_MODELS['amd-zen4'];
    const refused: [unknown, RegExp][] = [
      // Before: "reading 'vendor' of null", "Invalid array length", "NaN counters", taken as given.
      [null, /^TypeError: cpu: expected a CPU model name or a CpuModel object, got null$/],
      [
        { ...zen4, gpCounters: -1 },
        /^RangeError: cpu\.gpCounters: expected a whole number from 0 to 4294967295, got -1$/,
      ],
      [{ ...zen4, gpCounters: undefined }, /^RangeError: cpu\.gpCounters: .* got nothing$/],
      [
        { ...zen4, gpWidth: 100 },
        /^RangeError: cpu\.gpWidth: expected a whole number from 1 to 64, got 100$/,
      ],
      [
        { ...zen4, vendor: 'via' },
        /^RangeError: cpu\.vendor: expected 'intel' or 'amd', got 'via'$/,
      ],
      [{ ...zen4, perfCapabilities: 0 }, /^RangeError: cpu\.perfCapabilities: expected a bigint/],
      [{ ...zen4, tscHz: 0 }, /^RangeError: cpu\.tscHz: /],
      [{ ...zen4, tsx: 'yes' }, /^RangeError: cpu\.tsx: expected true or false, got 'yes'$/],
      [
        { ...zen4, gpWidht: 48 },
        /^TypeError: cpu: unknown CpuModel field 'gpWidht', did you mean 'gpWidth'\?$/,
      ],
    ];
    for (const [model, message] of refused)
      assert.throws(() => resolveCpuModel(model as CpuModel), message);
    // Every preset passes the same check.
    for (const name of CPU_MODEL_NAMES)
      assert.equal(resolveCpuModel({ ...CPU_MODELS[name] }).name, CPU_MODELS[name].name);
  });

  test('an unknown name is a RangeError naming the choices', () => {
    assert.throws(
      () => resolveCpuModel('intel-pentium' as CpuModelName),
      (e: unknown) =>
        e instanceof RangeError && /intel-pentium/.test(e.message) && /amd-zen4/.test(e.message),
    );
  });
});

describe('qualifiesForMediatedVpmu', () => {
  test('Intel needs v4+ with full-width writes; AMD needs PerfMonV2', () => {
    const want: Record<CpuModelName, boolean> = {
      'intel-haswell': false,
      'intel-skylake': true,
      'intel-icelake': true,
      'intel-sapphire-rapids': true,
      'intel-emerald-rapids': true,
      'amd-zen3': false,
      'amd-zen4': true,
    };
    for (const name of CPU_MODEL_NAMES)
      assert.equal(qualifiesForMediatedVpmu(CPU_MODELS[name]), want[name], name);
  });
  test('an Intel v4 part without full-width writes does not qualify', () => {
    assert.equal(
      qualifiesForMediatedVpmu({ ...CPU_MODELS['intel-skylake'], fullWidthWrites: false }),
      false,
    );
  });
});
