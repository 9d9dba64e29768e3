/**
 * The protocol IR and its sequential executor (src/common/protocol.ts): the
 * assembler, and runOperation's semantics for every step kind.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from './fc.ts';
import {
  createProtocolMemory,
  isSharedStep,
  OperationBuilder,
  runOperation,
  StepKind,
  type Protocol,
} from '../../src/common/protocol.ts';

const SHAPE: Pick<Protocol, 'cells' | 'mutexes' | 'warnSites'> = {
  cells: ['a', 'b'],
  mutexes: ['m'],
  warnSites: ['w0', 'w1'],
};
const op = (name = 'op') => new OperationBuilder(SHAPE, name);
const protocol = (operations: Protocol['operations'] = {}): Protocol => ({
  name: 'p',
  ...SHAPE,
  operations,
});

function exec(build: OperationBuilder, a = 0, b = 0, threadId = 0) {
  const warned: number[] = [];
  const memory = createProtocolMemory(protocol(), (site) => warned.push(site));
  memory.cells[0] = a;
  memory.cells[1] = b;
  const result = runOperation(build.build(), memory, threadId);
  return { result, a: memory.cells[0], b: memory.cells[1], warned, memory };
}

describe('OperationBuilder', () => {
  it('assembles steps with numeric cells, targets, values and WARN sites', () => {
    const built = op('x')
      .label('top')
      .incNotZero('b', 'out')
      .warnOnce('w1')
      .jump('top')
      .label('out')
      .ret(-5)
      .build();
    assert.equal(built.name, 'x');
    assert.deepEqual(
      built.steps.map((s) => [s.kind, s.cell, s.target, s.value]),
      [
        [StepKind.IncNotZero, 1, 3, 0],
        [StepKind.WarnOnce, -1, -1, 1],
        [StepKind.Jump, -1, 0, 0],
        [StepKind.Return, -1, -1, -5],
      ],
    );
    assert.ok(
      Object.isFrozen(built) && Object.isFrozen(built.steps) && Object.isFrozen(built.steps[0]),
    );
    assert.equal(built.steps[0]!.text, 'atomic_inc_not_zero(&b)');
    assert.equal(built.steps[3]!.text, 'return -5');
    assert.equal(op().ret(0).build().steps[0]!.text, 'return 0');
  });

  it('refuses unknown names, missing labels, and operations that do not end in a return or a jump', () => {
    assert.throws(() => op().inc('zz').ret(0).build(), /unknown cell 'zz'/);
    assert.throws(() => op().lock('zz').ret(0).build(), /unknown mutex 'zz'/);
    assert.throws(() => op().warnOnce('zz').ret(0).build(), /unknown WARN site 'zz'/);
    assert.throws(() => op().jump('nowhere').build(), /unknown label 'nowhere'/);
    // A jump to a label after the last step used to build, then read past the steps when run.
    assert.throws(
      () => op().jumpIfZero('a', 'out').ret(0).label('out').build(),
      /label 'out' has no step after it/,
    );
    assert.throws(() => op().inc('a').build(), /must end in a return or a jump/);
    assert.throws(() => op().build(), /must end in a return or a jump/);
  });
});

describe('runOperation', () => {
  it('atomic_inc_not_zero: increments and jumps only when non-zero', () => {
    const build = () => op().incNotZero('a', 'yes').ret(1).label('yes').ret(2);
    assert.deepEqual([exec(build(), 0).result, exec(build(), 0).a], [1, 0]);
    assert.deepEqual([exec(build(), 4).result, exec(build(), 4).a], [2, 5]);
  });

  it('jumps on zero / non-zero, inc, dec, store', () => {
    const nz = () => op().jumpIfNonZero('a', 't').ret(0).label('t').ret(1);
    assert.deepEqual([exec(nz(), 0).result, exec(nz(), 3).result], [0, 1]);
    const z = () => op().jumpIfZero('a', 't').ret(0).label('t').ret(1);
    assert.deepEqual([exec(z(), 0).result, exec(z(), 3).result], [1, 0]);
    const r = exec(op().inc('a').inc('a').dec('b').store('a', 42).inc('a').ret(0), 0, 0);
    assert.deepEqual([r.a, r.b], [43, -1]);
  });

  it('atomic_dec_return < 0 jumps', () => {
    const build = () => op().decJumpIfNegative('a', 'neg').ret(0).label('neg').ret(-1);
    assert.deepEqual([exec(build(), 1).result, exec(build(), 1).a], [0, 0]);
    assert.deepEqual([exec(build(), 0).result, exec(build(), 0).a], [-1, -1]);
  });

  it('mutexes record their owner and refuse a second lock or an unlock by a non-owner', () => {
    const memory = createProtocolMemory(protocol());
    runOperation(op().lock('m').ret(0).build(), memory, 3);
    assert.equal(memory.mutexes[0], 4, 'thread id + 1');
    assert.throws(
      () => runOperation(op().lock('m').ret(0).build(), memory, 5),
      /would block forever \(already held by thread 3\)/,
    );
    assert.throws(() => runOperation(op().unlock('m').ret(0).build(), memory, 5), /by a non-owner/);
    runOperation(op().unlock('m').ret(0).build(), memory, 3);
    assert.equal(memory.mutexes[0], 0);
  });

  it("WARN_ON_ONCE reports its site to the memory (once-per-site state is the caller's)", () => {
    const r = exec(op().warnOnce('w1').warnOnce('w0').warnOnce('w1').ret(0));
    assert.deepEqual(r.warned, [1, 0, 1]);
    // The default memory ignores WARNs.
    runOperation(op().warnOnce('w0').ret(0).build(), createProtocolMemory(protocol()));
  });

  it('an operation that never returns is reported, not looped on forever', () => {
    assert.throws(() => exec(op().label('l').inc('a').jump('l')), /did not return/);
  });

  it('createProtocolMemory sizes the cells and mutexes from the protocol', () => {
    const m = createProtocolMemory({ ...protocol(), cells: ['x', 'y', 'z'], mutexes: ['p', 'q'] });
    assert.deepEqual([m.cells.length, m.mutexes.length], [3, 2]);
    assert.ok(m.cells instanceof Int32Array);
  });

  it('isSharedStep: every memory or mutex step is a scheduling point, the local ones are not', () => {
    const shared = [
      StepKind.IncNotZero,
      StepKind.JumpIfNonZero,
      StepKind.JumpIfZero,
      StepKind.Inc,
      StepKind.Dec,
      StepKind.DecJumpIfNegative,
      StepKind.Store,
      StepKind.Lock,
      StepKind.Unlock,
    ];
    for (const k of shared) assert.equal(isSharedStep(k), true);
    for (const k of [StepKind.WarnOnce, StepKind.Return, StepKind.Jump])
      assert.equal(isSharedStep(k), false);
  });

  it('property: a counter program of incs and decs ends at their sum', () => {
    fc.assert(
      fc.property(
        fc.array(fc.boolean(), { maxLength: 50 }),
        fc.integer({ min: -100, max: 100 }),
        (steps, start) => {
          let b = op();
          for (const up of steps) b = up ? b.inc('a') : b.dec('a');
          const r = exec(b.ret(0), start);
          assert.equal(r.a, start + steps.filter(Boolean).length - steps.filter((x) => !x).length);
        },
      ),
      { numRuns: 100 },
    );
  });
});
