import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from '../common/fc.ts';
import { KvmError } from '../../src/common/errors.ts';
import {
  compileEventFilter,
  decodeMaskedEntry,
  encodeMaskedEntry,
  isFixedCounterAllowed,
  isGpEventAllowed,
  KVM_PMU_EVENT_ALLOW,
  KVM_PMU_EVENT_DENY,
  KVM_PMU_EVENT_FILTER_MAX_EVENTS,
  type PmuEventFilter,
} from '../../src/kvm/event-filter.ts';
import { upstreamGpAllowed } from './filter-reference.ts';

const RUNS = { numRuns: 300 };
const EN_USR_OS = (1n << 22n) | (1n << 16n) | (1n << 17n);

/** A selector as a guest writes it: event, umask, USR|OS|EN, and AMD's high select nibble. */
function evtsel(select: number, umask: number): bigint {
  return (
    BigInt(select & 0xff) |
    (BigInt(umask & 0xff) << 8n) |
    (BigInt((select >> 8) & 0xf) << 32n) |
    EN_USR_OS
  );
}

function errno(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof KvmError, `expected a KvmError, got ${String(e)}`);
    return e.errno;
  }
  assert.fail('no error thrown');
}

describe('encodeMaskedEntry / decodeMaskedEntry (KVM_PMU_ENCODE_MASKED_ENTRY)', () => {
  it('places select low [7:0], match [15:8], select high [35:32], exclude 55, mask [63:56]', () => {
    assert.equal(
      encodeMaskedEntry(0x1c0, 0xf0, 0x12, true),
      (0xf0n << 56n) | (1n << 55n) | (0x1n << 32n) | (0x12n << 8n) | 0xc0n,
    );
    assert.equal(encodeMaskedEntry(0xc0, 0xff, 0, false), (0xffn << 56n) | 0xc0n);
  });

  it('truncates each field to its width as the macro does, and refuses what C could not be given', () => {
    // include/uapi/asm/kvm.h KVM_PMU_ENCODE_MASKED_ENTRY masks the select
    // with 0xFF / 0xF00, mask and match with 0xFF, and takes !!exclude.
    assert.equal(
      encodeMaskedEntry(0x31c0, 0x1f0, 0x112, 1),
      encodeMaskedEntry(0x1c0, 0xf0, 0x12, true),
    );
    // KVM selftest pmu_event_filter_test.c, test_filter_ioctl: a valid entry
    // built as KVM_PMU_ENCODE_MASKED_ENTRY(0xff, 0xff, 0xff, 0xf), an exclude.
    assert.equal(
      encodeMaskedEntry(0xff, 0xff, 0xff, 0xf),
      (0xffn << 56n) | (1n << 55n) | (0xffn << 8n) | 0xffn,
    );
    assert.equal(encodeMaskedEntry(0xc0, 0xff, 0, 0), (0xffn << 56n) | 0xc0n);
    for (const [call, message] of [
      [
        () => encodeMaskedEntry(undefined as never, 0, 0, false),
        /eventSelect: expected a whole number from 0 \(got nothing\)/,
      ],
      [
        () => encodeMaskedEntry(0xc0, -1, 0, false),
        /mask: expected a whole number from 0 \(got -1\)/,
      ],
      [
        () => encodeMaskedEntry(0xc0, 0, 1.5, false),
        /match: expected a whole number from 0 \(got 1.5\)/,
      ],
      [
        () => encodeMaskedEntry(0xc0, 0, 0, undefined as never),
        /exclude: expected true, false or a whole number \(got nothing\)/,
      ],
      [
        () => encodeMaskedEntry(0xc0, 0, 0, 0.5),
        /exclude: expected true, false or a whole number \(got 0.5\)/,
      ],
      [() => encodeMaskedEntry('0xc0' as never, 0, 0, false), /eventSelect: .*got '0xc0'/],
    ] as const)
      assert.throws(call, message);
  });

  it('round-trips every field (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xfff }),
        fc.integer({ min: 0, max: 0xff }),
        fc.integer({ min: 0, max: 0xff }),
        fc.boolean(),
        (select, mask, match, exclude) => {
          const e = encodeMaskedEntry(select, mask, match, exclude);
          assert.deepEqual(decodeMaskedEntry(e), { eventSelect: select, mask, match, exclude });
          assert.equal(e >> 64n, 0n);
        },
      ),
      RUNS,
    );
  });
});

describe('compileEventFilter: errors, in upstream order', () => {
  const events = (n: number): bigint[] => Array.from({ length: n }, (_, i) => BigInt(i & 0xff));

  it('a bad action is EINVAL', () => {
    assert.equal(
      errno(() => compileEventFilter({ action: 'block' as 'allow', events: [] }, 'intel')),
      'EINVAL',
    );
    assert.equal(
      errno(() => compileEventFilter({ action: 2 as unknown as 'allow', events: [] }, 'intel')),
      'EINVAL',
    );
  });

  it('unknown flags are EINVAL (only bit 0, masked events, is valid)', () => {
    for (const flags of [2, 3, 1 << 31, -1, 1.5]) {
      assert.equal(
        errno(() => compileEventFilter({ action: 'allow', events: [], flags }, 'intel')),
        'EINVAL',
      );
    }
    assert.doesNotThrow(() =>
      compileEventFilter({ action: 'allow', events: [], flags: 1 }, 'intel'),
    );
  });

  it('more than 300 events is E2BIG; exactly 300 is fine', () => {
    assert.equal(KVM_PMU_EVENT_FILTER_MAX_EVENTS, 300);
    assert.doesNotThrow(() => compileEventFilter({ action: 'deny', events: events(300) }, 'intel'));
    const e = (() => {
      try {
        compileEventFilter({ action: 'deny', events: events(301) }, 'intel');
      } catch (err) {
        return err as KvmError;
      }
      return undefined;
    })();
    assert.ok(e instanceof KvmError);
    assert.equal(e.errno, 'E2BIG');
    assert.equal(e.code, -7);
  });

  it('action is checked before flags, flags before the count, the count before entries', () => {
    const bad = { events: events(301), flags: 2 };
    assert.equal(
      errno(() => compileEventFilter({ ...bad, action: 'x' as 'allow' }, 'intel')),
      'EINVAL',
    );
    assert.equal(
      errno(() => compileEventFilter({ ...bad, action: 'allow' }, 'intel')),
      'EINVAL',
    );
    // A stray-bit masked entry among 301: E2BIG wins.
    const masked: PmuEventFilter = {
      action: 'allow',
      flags: 1,
      events: [...events(300), 1n << 16n],
    };
    assert.equal(
      errno(() => compileEventFilter(masked, 'intel')),
      'E2BIG',
    );
  });

  // kvm_vm_ioctl_set_pmu_event_filter copies struct kvm_pmu_event_filter and
  // checks action, flags and nevents only: pad[4] is never read.
  it('a non-zero pad is accepted and changes nothing', () => {
    const base: PmuEventFilter = { action: 'allow', events: [0xc0n], fixedCounterBitmap: 1 };
    const padded = compileEventFilter({ ...base, pad: [1, 0xffffffff, 7, 42] }, 'intel');
    const plain = compileEventFilter(base, 'intel');
    assert.deepEqual(padded, plain);
  });

  it('a masked entry with bits outside select/mask/match/exclude is EINVAL', () => {
    for (const stray of [1n << 16n, 1n << 22n, 1n << 40n, 1n << 54n]) {
      const f: PmuEventFilter = {
        action: 'allow',
        flags: 1,
        events: [encodeMaskedEntry(0xc0, 0xff, 0, false) | stray],
      };
      assert.equal(
        errno(() => compileEventFilter(f, 'intel')),
        'EINVAL',
      );
      assert.equal(
        errno(() => compileEventFilter(f, 'amd')),
        'EINVAL',
      );
    }
  });

  it('the select high nibble (35:32) is valid in masked entries on AMD only', () => {
    const f: PmuEventFilter = {
      action: 'allow',
      flags: 1,
      events: [encodeMaskedEntry(0x1c0, 0xff, 0, false)],
    };
    assert.equal(
      errno(() => compileEventFilter(f, 'intel')),
      'EINVAL',
    );
    assert.doesNotThrow(() => compileEventFilter(f, 'amd'));
  });

  it('an entry that is neither a bigint nor a safe integer is a TypeError (a caller bug)', () => {
    for (const bad of [0.5, Number.NaN, 2 ** 53, '0xc0', null, undefined, {}]) {
      assert.throws(
        () => compileEventFilter({ action: 'allow', events: [bad as bigint] }, 'intel'),
        (e: unknown) =>
          e instanceof TypeError &&
          /events\[0\] must be a bigint or a safe integer/.test(e.message),
        JSON.stringify(bad) ?? 'undefined',
      );
    }
  });

  it('an action other than the uapi’s two, as a name or a number, is EINVAL and names both', () => {
    for (const bad of [2, -1, 0.5, '0', 'ALLOW', true, null])
      assert.throws(
        () => compileEventFilter({ action: bad as 'allow', events: [] }, 'intel'),
        (e: unknown) =>
          e instanceof KvmError &&
          e.errno === 'EINVAL' &&
          e.message.includes('KVM_PMU_EVENT_ALLOW (0) or KVM_PMU_EVENT_DENY (1)'),
        String(bad),
      );
  });
});

describe('compileEventFilter: the uapi’s numbers', () => {
  // arch/x86/include/uapi/asm/kvm.h: #define KVM_PMU_EVENT_ALLOW 0, #define KVM_PMU_EVENT_DENY 1.
  it('KVM_PMU_EVENT_ALLOW is 0 and KVM_PMU_EVENT_DENY is 1, as in the uapi header', () => {
    assert.equal(KVM_PMU_EVENT_ALLOW, 0);
    assert.equal(KVM_PMU_EVENT_DENY, 1);
  });

  it('property: action 0/1 and a safe-integer entry compile as allow/deny and the bigint entry', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(KVM_PMU_EVENT_ALLOW, KVM_PMU_EVENT_DENY),
        fc.array(fc.maxSafeNat(), { maxLength: 20 }),
        fc.constantFrom('intel' as const, 'amd' as const),
        (action, numbers, vendor) => {
          const byNumber = compileEventFilter({ action, events: numbers }, vendor);
          const byName = compileEventFilter(
            { action: action === 0 ? 'allow' : 'deny', events: numbers.map(BigInt) },
            vendor,
          );
          assert.equal(byNumber.action, action === 0 ? 'allow' : 'deny');
          assert.deepEqual(byNumber.includes, byName.includes);
          assert.deepEqual(byNumber.excludes, byName.excludes);
        },
      ),
      RUNS,
    );
  });

  it('a negative safe integer is cast to u64 as a bigint is: -1 is all ones', () => {
    const all = (1n << 64n) - 1n;
    // Plain entries with bits outside select + umask are dropped
    // (convert_to_masked_filter), so both filters end up empty alike; a masked
    // filter refuses both with EINVAL (stray bits).
    assert.deepEqual(
      compileEventFilter({ action: 'allow', events: [-1] }, 'intel').includes,
      compileEventFilter({ action: 'allow', events: [all] }, 'intel').includes,
    );
    assert.equal(
      errno(() => compileEventFilter({ action: 'allow', events: [-1], flags: 1 }, 'intel')),
      'EINVAL',
    );
  });
});

describe('compileEventFilter: plain entries', () => {
  it('become exact-umask includes (umask mask 0xff)', () => {
    const f = compileEventFilter({ action: 'allow', events: [0x01c0n] }, 'intel');
    assert.deepEqual(f.includes, [encodeMaskedEntry(0xc0, 0xff, 0x01, false)]);
    assert.deepEqual(f.excludes, []);
    assert.equal(isGpEventAllowed(f, evtsel(0xc0, 0x01)), true);
    assert.equal(isGpEventAllowed(f, evtsel(0xc0, 0x00)), false);
    assert.equal(isGpEventAllowed(f, evtsel(0xc0, 0x03)), false);
  });

  it('with bits outside select + umask are dropped silently and never match', () => {
    for (const e of [0x1_00c0n, (1n << 22n) | 0xc0n, (1n << 55n) | 0xc0n, (0xffn << 56n) | 0xc0n]) {
      const f = compileEventFilter({ action: 'allow', events: [e] }, 'intel');
      assert.deepEqual(f.includes, []);
      assert.equal(isGpEventAllowed(f, evtsel(0xc0, 0)), false);
    }
  });

  it('bits 35:32 are the AMD select high nibble, stray on Intel', () => {
    const e = 0x1_0000_00c0n; // select 0x1c0
    const amd = compileEventFilter({ action: 'allow', events: [e] }, 'amd');
    assert.equal(isGpEventAllowed(amd, evtsel(0x1c0, 0)), true);
    assert.equal(isGpEventAllowed(amd, evtsel(0x0c0, 0)), false);
    const intel = compileEventFilter({ action: 'allow', events: [e] }, 'intel');
    assert.deepEqual(intel.includes, []);
  });

  it('only the select and umask of the guest selector matter', () => {
    const f = compileEventFilter({ action: 'deny', events: [0x00c4n] }, 'intel');
    const sel = 0x00c4n | (0xffn << 24n) | (1n << 20n) | (1n << 18n) | (1n << 23n);
    assert.equal(isGpEventAllowed(f, sel), false);
    assert.equal(isGpEventAllowed(f, sel | EN_USR_OS), false);
  });
});

describe('compileEventFilter: masked entries', () => {
  it('match when (umask & mask) == match', () => {
    // LLC events 0x2e with umask 0x4f/0x41: mask 0xf0, match 0x40 matches both.
    const f = compileEventFilter(
      { action: 'allow', flags: 1, events: [encodeMaskedEntry(0x2e, 0xf0, 0x40, false)] },
      'intel',
    );
    assert.equal(isGpEventAllowed(f, evtsel(0x2e, 0x4f)), true);
    assert.equal(isGpEventAllowed(f, evtsel(0x2e, 0x41)), true);
    assert.equal(isGpEventAllowed(f, evtsel(0x2e, 0x81)), false);
    assert.equal(isGpEventAllowed(f, evtsel(0x2f, 0x4f)), false);
  });

  it('an exclude entry beats an include entry', () => {
    const f = compileEventFilter(
      {
        action: 'allow',
        flags: 1,
        events: [
          encodeMaskedEntry(0x2e, 0x00, 0x00, false),
          encodeMaskedEntry(0x2e, 0xff, 0x41, true),
        ],
      },
      'intel',
    );
    assert.equal(f.includes.length, 1);
    assert.equal(f.excludes.length, 1);
    assert.equal(isGpEventAllowed(f, evtsel(0x2e, 0x4f)), true);
    assert.equal(isGpEventAllowed(f, evtsel(0x2e, 0x41)), false);
    // Under DENY the same lists deny 0x4f and allow 0x41.
    const d = compileEventFilter(
      { ...f, action: 'deny', events: [...f.includes, ...f.excludes] },
      'intel',
    );
    assert.equal(isGpEventAllowed(d, evtsel(0x2e, 0x4f)), false);
    assert.equal(isGpEventAllowed(d, evtsel(0x2e, 0x41)), true);
  });

  it('an exclude entry alone matches nothing', () => {
    const f = compileEventFilter(
      { action: 'allow', flags: 1, events: [encodeMaskedEntry(0xc0, 0, 0, true)] },
      'intel',
    );
    assert.equal(isGpEventAllowed(f, evtsel(0xc0, 0)), false);
  });

  it('entries are sorted by select with excludes after includes', () => {
    const a = encodeMaskedEntry(0xc4, 0xff, 0, true);
    const b = encodeMaskedEntry(0xc0, 0xff, 0, false);
    const c = encodeMaskedEntry(0x3c, 0xff, 1, false);
    const f = compileEventFilter({ action: 'allow', flags: 1, events: [a, b, c] }, 'intel');
    assert.deepEqual(f.includes, [c, b]);
    assert.deepEqual(f.excludes, [a]);
  });
});

describe('fixed counters (is_fixed_event_allowed)', () => {
  it('ALLOW: allowed iff the bitmap bit is set; DENY: iff clear; the event list is ignored', () => {
    const allow = compileEventFilter(
      { action: 'allow', events: [0x00c0n], fixedCounterBitmap: 0b101 },
      'intel',
    );
    assert.deepEqual(
      [0, 1, 2, 3].map((i) => isFixedCounterAllowed(allow, i)),
      [true, false, true, false],
    );
    const deny = compileEventFilter(
      { action: 'deny', events: [0x00c0n], fixedCounterBitmap: 0b101 },
      'intel',
    );
    assert.deepEqual(
      [0, 1, 2, 3].map((i) => isFixedCounterAllowed(deny, i)),
      [false, true, false, true],
    );
    // Fixed counter 0 counts instructions, yet an ALLOW list naming only 0xc0 does not allow it.
    const onlyList = compileEventFilter({ action: 'allow', events: [0x00c0n] }, 'intel');
    assert.equal(isFixedCounterAllowed(onlyList, 0), false);
  });
});

describe('properties', () => {
  const entry = fc.oneof(
    fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
    fc
      .tuple(fc.integer({ min: 0, max: 0xff }), fc.integer({ min: 0, max: 0xff }))
      .map(([s, u]) => BigInt(s) | (BigInt(u) << 8n)),
  );
  const masked = fc
    .tuple(
      fc.integer({ min: 0, max: 0xfff }),
      fc.integer({ min: 0, max: 0xff }),
      fc.integer({ min: 0, max: 0xff }),
      fc.boolean(),
    )
    .map(([s, m, t, x]) => encodeMaskedEntry(s, m, t, x));
  const vendor = fc.constantFrom<'intel' | 'amd'>('intel', 'amd');
  const selector = fc.tuple(fc.integer({ min: 0, max: 0xfff }), fc.integer({ min: 0, max: 0xff }));

  it('DENY is the complement of ALLOW with the same list, for GP events and fixed counters', () => {
    fc.assert(
      fc.property(
        vendor,
        fc.boolean(),
        fc.array(entry, { maxLength: 20 }),
        fc.array(masked, { maxLength: 20 }),
        fc.integer({ min: 0, max: 0xffffffff }),
        selector,
        fc.integer({ min: 0, max: 31 }),
        (v, isMasked, plain, maskedEvents, bitmap, [s, u], fixed) => {
          const events = isMasked
            ? maskedEvents.filter((e) => v === 'amd' || ((e >> 32n) & 0xfn) === 0n)
            : plain;
          const flags = isMasked ? 1 : 0;
          const allow = compileEventFilter(
            { action: 'allow', events, flags, fixedCounterBitmap: bitmap },
            v,
          );
          const deny = compileEventFilter(
            { action: 'deny', events, flags, fixedCounterBitmap: bitmap },
            v,
          );
          const sel = evtsel(v === 'amd' ? s : s & 0xff, u);
          assert.equal(isGpEventAllowed(deny, sel), !isGpEventAllowed(allow, sel));
          assert.equal(isFixedCounterAllowed(deny, fixed), !isFixedCounterAllowed(allow, fixed));
        },
      ),
      RUNS,
    );
  });

  it('an exclude entry matching the event beats any include entries', () => {
    fc.assert(
      fc.property(
        vendor,
        fc.array(masked, { maxLength: 20 }),
        selector,
        fc.integer({ min: 0, max: 0xff }),
        (v, rest, [s, u], m) => {
          const select = v === 'amd' ? s : s & 0xff;
          const events = [
            ...rest.filter((e) => v === 'amd' || ((e >> 32n) & 0xfn) === 0n),
            encodeMaskedEntry(select, 0, 0, false), // includes every umask of the select
            encodeMaskedEntry(select, m, u & m, true), // excludes this umask
          ];
          const f = compileEventFilter({ action: 'allow', flags: 1, events }, v);
          assert.equal(isGpEventAllowed(f, evtsel(select, u)), false);
        },
      ),
      RUNS,
    );
  });

  it('a plain entry equals the masked entry (select, 0xff, umask, include)', () => {
    fc.assert(
      fc.property(
        vendor,
        fc.constantFrom<'allow' | 'deny'>('allow', 'deny'),
        selector,
        selector,
        (v, action, [s, u], [qs, qu]) => {
          const select = v === 'amd' ? s : s & 0xff;
          const plain = BigInt(select & 0xff) | (BigInt(u) << 8n) | (BigInt(select >> 8) << 32n);
          const a = compileEventFilter({ action, events: [plain] }, v);
          const b = compileEventFilter(
            { action, flags: 1, events: [encodeMaskedEntry(select, 0xff, u, false)] },
            v,
          );
          const q = evtsel(v === 'amd' ? qs : qs & 0xff, qu);
          assert.equal(isGpEventAllowed(a, q), isGpEventAllowed(b, q));
          assert.equal(isGpEventAllowed(a, evtsel(select, u)), action === 'allow');
        },
      ),
      RUNS,
    );
  });

  it('the order of the entries does not matter', () => {
    fc.assert(
      fc.property(
        vendor,
        fc.array(masked, { maxLength: 15 }),
        selector,
        fc.infiniteStream(fc.nat()),
        (v, raw, [s, u], rnd) => {
          const events = raw.filter((e) => v === 'amd' || ((e >> 32n) & 0xfn) === 0n);
          const shuffled = [...events];
          for (let i = shuffled.length - 1; i > 0; i--) {
            const j = rnd.next().value % (i + 1);
            [shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!];
          }
          const a = compileEventFilter({ action: 'allow', flags: 1, events }, v);
          const b = compileEventFilter({ action: 'allow', flags: 1, events: shuffled }, v);
          const q = evtsel(v === 'amd' ? s : s & 0xff, u);
          assert.equal(isGpEventAllowed(a, q), isGpEventAllowed(b, q));
        },
      ),
      RUNS,
    );
  });
});

describe('is_gp_event_allowed against a direct reading of upstream (property)', () => {
  // Few selects, so entries and selectors often share one (or only its low byte).
  const select = fc.constantFrom(0x00, 0x2e, 0xc0, 0xc4, 0x1c0, 0x2c4, 0xfc0);
  const umask = fc.oneof(fc.constantFrom(0x00, 0x01, 0x41, 0x4f, 0x81, 0x83), fc.nat(0xff));
  const vendor = fc.constantFrom<'intel' | 'amd'>('intel', 'amd');
  const action = fc.constantFrom<'allow' | 'deny'>('allow', 'deny');
  // An entry's fields; an "aimed" one takes its match (masked) or umask (plain)
  // from the selector under test, so that matches, and excludes beating
  // includes, are common rather than rare.
  const entryFields = fc.record({
    aimed: fc.boolean(),
    select,
    mask: umask,
    match: umask,
    exclude: fc.boolean(),
    // Plain entries only: sometimes a stray bit (EN, CMASK, AMD's select nibble, bit 55, ...).
    stray: fc.option(fc.oneof(fc.constantFrom(22, 24, 32, 35, 55), fc.nat(63)), { freq: 4 }),
  });
  // Any selector bits besides select and umask: they must not matter.
  const selector = fc
    .tuple(select, umask, fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }))
    .map(
      ([s, u, rest]) =>
        (rest & ~0xf_0000_ffffn) | BigInt(s & 0xff) | (BigInt(u) << 8n) | (BigInt(s >> 8) << 32n),
    );

  // No filter at all is check_pmu_event_filter's `if (!filter) return true`;
  // is_gp_event_allowed / is_fixed_event_allowed give the same for DENY with
  // nothing listed, the closest userspace can get to removing a filter.
  it('a deny filter with no events and no bitmap bits allows everything', () => {
    fc.assert(
      fc.property(vendor, selector, fc.nat(31), (v, sel, fixed) => {
        const f = compileEventFilter({ action: 'deny', events: [] }, v);
        assert.equal(isGpEventAllowed(f, sel), true);
        assert.equal(isFixedCounterAllowed(f, fixed), true);
      }),
      RUNS,
    );
  });

  it('plain and masked filters, allow and deny, both vendors', () => {
    fc.assert(
      fc.property(
        vendor,
        action,
        fc.boolean(),
        fc.array(entryFields, { maxLength: 12 }),
        selector,
        (v, a, masked, fields, sel) => {
          const selUmask = Number((sel >> 8n) & 0xffn);
          const events = fields.map((f) =>
            masked
              ? encodeMaskedEntry(
                  f.select,
                  f.mask,
                  f.aimed ? selUmask & f.mask : f.match,
                  f.exclude,
                )
              : BigInt(f.select & 0xff) |
                (BigInt(f.aimed ? selUmask : f.match) << 8n) |
                (BigInt(f.select >> 8) << 32n) |
                (f.stray === null ? 0n : 1n << BigInt(f.stray)),
          );
          // is_masked_filter_valid: bits 35:32 are outside Intel's EVENTSEL_EVENT.
          const valid = masked
            ? events.filter((e) => v === 'amd' || ((e >> 32n) & 0xfn) === 0n)
            : events;
          const f = compileEventFilter({ action: a, events: valid, flags: masked ? 1 : 0 }, v);
          assert.equal(isGpEventAllowed(f, sel), upstreamGpAllowed(v, a, masked, valid, sel));
        },
      ),
      RUNS,
    );
  });

  it('a masked entry is EINVAL exactly when it has a bit outside select, mask, match and exclude', () => {
    const maskedEntry = entryFields.map((f) =>
      encodeMaskedEntry(f.select, f.mask, f.match, f.exclude),
    );
    fc.assert(
      fc.property(
        vendor,
        fc.array(fc.oneof(maskedEntry, fc.bigInt({ min: 0n, max: (1n << 64n) - 1n })), {
          maxLength: 8,
        }),
        (v, events) => {
          // is_masked_filter_valid: EVENTSEL_EVENT | UMASK_MASK | UMASK_MATCH | EXCLUDE.
          const valid =
            (v === 'amd' ? 0xf_0000_00ffn : 0xffn) | (0xffn << 56n) | 0xff00n | (1n << 55n);
          const invalid = events.some((e) => (e & ~valid) !== 0n);
          const compile = () => compileEventFilter({ action: 'allow', events, flags: 1 }, v);
          if (invalid) assert.equal(errno(compile), 'EINVAL');
          else compile();
        },
      ),
      RUNS,
    );
  });
});
