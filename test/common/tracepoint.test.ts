/**
 * Trace points (src/common/tracepoint.ts): no probe, a null to test; one
 * probe, called directly; several, called in the order attached; detaching
 * restores what was before, once.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Attachments, Tracepoint } from '../../src/common/tracepoint.ts';

describe('Tracepoint', () => {
  it('is disabled (probe null) until a probe is attached, and after it is detached', () => {
    const tp = new Tracepoint<[n: number]>('test:tp');
    const fire = (n: number) => tp.probe!(n);
    assert.equal(tp.probe, null);
    assert.equal(tp.enabled, false);
    const seen: number[] = [];
    const probe = (n: number) => seen.push(n);
    const detach = tp.attach(probe);
    assert.equal(tp.probe, probe, 'one probe is called directly, with no fan-out');
    fire(7);
    detach();
    assert.equal(tp.probe, null);
    assert.deepEqual(seen, [7]);
  });

  it('calls every probe, in the order attached; detaching one keeps the others, and a second detach does nothing', () => {
    const tp = new Tracepoint<[a: string, b: number]>('test:tp');
    const seen: string[] = [];
    const detachA = tp.attach((a, b) => seen.push(`A ${a}${b}`));
    const detachB = tp.attach((a, b) => seen.push(`B ${a}${b}`));
    tp.attach((a, b) => seen.push(`C ${a}${b}`));
    tp.probe!('x', 1);
    detachB();
    detachB();
    tp.probe!('y', 2);
    detachA();
    tp.probe!('z', 3);
    assert.deepEqual(seen, ['A x1', 'B x1', 'C x1', 'A y2', 'C y2', 'C z3']);
  });

  it('the same probe attached twice runs twice and detaches one at a time', () => {
    const tp = new Tracepoint<[]>('test:tp');
    let n = 0;
    const probe = () => n++;
    const first = tp.attach(probe);
    tp.attach(probe);
    tp.probe!();
    first();
    tp.probe!();
    assert.equal(n, 3);
  });

  it('Attachments detaches everything it attached', () => {
    const a = new Tracepoint<[]>('test:a');
    const b = new Tracepoint<[n: number]>('test:b');
    const other = () => {};
    b.attach(other);
    const attachments = new Attachments();
    attachments.add(a, () => {});
    attachments.add(b, () => {});
    assert.notEqual(a.probe, null);
    attachments.detachAll();
    assert.equal(a.probe, null);
    assert.equal(b.probe, other);
  });
});
