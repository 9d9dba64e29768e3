/**
 * Concurrent kernel protocols, written once (docs/architecture.md principle 1).
 *
 * A protocol is a set of operations (e.g. perf_create_mediated_pmu), each a
 * straight-line program of steps over an abstract shared memory: integer cells
 * operated on atomically, and mutexes. Every step that touches shared memory
 * is one atomic step; branches and returns are local. Three executors run the
 * same definitions:
 *   - runOperation() below, sequentially, inside the perf core and KVM;
 *   - the interleaving explorer (src/check/), which schedules threads between
 *     any two shared steps;
 *   - src/shm/, over SharedArrayBuffer and Atomics on real threads.
 *
 * The representation is plain data (an assembled instruction array with
 * numeric jump targets) rather than generator functions, so a thread's state is
 * two small integers (operation, pc) that the explorer can pack into typed
 * arrays and copy, and no executor needs a second copy of the logic.
 */

export const enum StepKind {
  /** atomic_inc_not_zero(cell): on success jump to `target`, else fall through. */
  IncNotZero = 0,
  /** if (atomic_read(cell)) goto target. */
  JumpIfNonZero = 1,
  /** if (!atomic_read(cell)) goto target. */
  JumpIfZero = 2,
  /** atomic_inc(cell). */
  Inc = 3,
  /** atomic_dec(cell). */
  Dec = 4,
  /** if (atomic_dec_return(cell) < 0) goto target. */
  DecJumpIfNegative = 5,
  /** atomic_set(cell, value). */
  Store = 6,
  /** mutex_lock(mutex): blocks while another thread holds it. */
  Lock = 7,
  /** mutex_unlock(mutex). */
  Unlock = 8,
  /** WARN_ON_ONCE at call site `value`: one splat per site, ever (local: no shared step). */
  WarnOnce = 9,
  /** return value (0 or -errno) (local). */
  Return = 10,
  /** goto target (local). */
  Jump = 11,
}

export interface Step {
  readonly kind: StepKind;
  /** Memory cell or mutex index, by kind; -1 when unused. */
  readonly cell: number;
  /** Jump target (an index into the operation's steps); -1 when unused. */
  readonly target: number;
  /** Store value, WARN site, or return value; 0 when unused. */
  readonly value: number;
  /** The kernel source the step stands for, for traces. */
  readonly text: string;
}

/** Whether a step reads or writes shared memory (a scheduling point). */
export function isSharedStep(kind: StepKind): boolean {
  return kind !== StepKind.WarnOnce && kind !== StepKind.Return && kind !== StepKind.Jump;
}

export interface Operation {
  readonly name: string;
  readonly steps: readonly Step[];
}

export interface Protocol {
  readonly name: string;
  /** Names of the shared integer cells, by index. */
  readonly cells: readonly string[];
  /** Names of the mutexes, by index. */
  readonly mutexes: readonly string[];
  /** Names of the WARN_ON_ONCE sites, by index. */
  readonly warnSites: readonly string[];
  readonly operations: Readonly<Record<string, Operation>>;
}

/** One line of protocol assembly: a step with symbolic labels. */
type Line =
  | { label: string }
  | {
      kind: StepKind;
      cell?: string;
      mutex?: string;
      target?: string;
      value?: number;
      site?: string;
      text: string;
    };

/**
 * A tiny assembler: write an operation as a list of lines with labels and
 * symbolic cell / mutex / WARN-site names; get back numeric steps.
 */
export class OperationBuilder {
  private readonly lines: Line[] = [];

  constructor(
    private readonly protocol: Pick<Protocol, 'cells' | 'mutexes' | 'warnSites'>,
    private readonly name: string,
  ) {}

  label(name: string): this {
    this.lines.push({ label: name });
    return this;
  }
  incNotZero(cell: string, ifIncremented: string): this {
    return this.push(
      StepKind.IncNotZero,
      { cell, target: ifIncremented },
      `atomic_inc_not_zero(&${cell})`,
    );
  }
  jumpIfNonZero(cell: string, target: string): this {
    return this.push(StepKind.JumpIfNonZero, { cell, target }, `if (atomic_read(&${cell}))`);
  }
  jumpIfZero(cell: string, target: string): this {
    return this.push(StepKind.JumpIfZero, { cell, target }, `if (!atomic_read(&${cell}))`);
  }
  inc(cell: string): this {
    return this.push(StepKind.Inc, { cell }, `atomic_inc(&${cell})`);
  }
  dec(cell: string): this {
    return this.push(StepKind.Dec, { cell }, `atomic_dec(&${cell})`);
  }
  decJumpIfNegative(cell: string, target: string): this {
    return this.push(
      StepKind.DecJumpIfNegative,
      { cell, target },
      `if (atomic_dec_return(&${cell}) < 0)`,
    );
  }
  store(cell: string, value: number): this {
    return this.push(StepKind.Store, { cell, value }, `atomic_set(&${cell}, ${value})`);
  }
  lock(mutex: string): this {
    return this.push(StepKind.Lock, { mutex }, `mutex_lock(&${mutex})`);
  }
  unlock(mutex: string): this {
    return this.push(StepKind.Unlock, { mutex }, `mutex_unlock(&${mutex})`);
  }
  warnOnce(site: string, text = `WARN_ON_ONCE() at ${site}`): this {
    return this.push(StepKind.WarnOnce, { site }, text);
  }
  ret(value: number, text = value === 0 ? 'return 0' : `return ${value}`): this {
    return this.push(StepKind.Return, { value }, text);
  }
  jump(target: string): this {
    return this.push(StepKind.Jump, { target }, `goto ${target}`);
  }

  private push(
    kind: StepKind,
    args: { cell?: string; mutex?: string; target?: string; value?: number; site?: string },
    text: string,
  ): this {
    this.lines.push({ kind, ...args, text });
    return this;
  }

  build(): Operation {
    const labels = new Map<string, number>();
    let pc = 0;
    for (const line of this.lines) {
      if ('label' in line) labels.set(line.label, pc);
      else pc++;
    }
    const index = (names: readonly string[], name: string, what: string): number => {
      const i = names.indexOf(name);
      if (i < 0) throw new Error(`${this.name}: unknown ${what} '${name}'`);
      return i;
    };
    const steps: Step[] = [];
    for (const line of this.lines) {
      if ('label' in line) continue;
      let cell = -1;
      if (line.cell !== undefined) cell = index(this.protocol.cells, line.cell, 'cell');
      if (line.mutex !== undefined) cell = index(this.protocol.mutexes, line.mutex, 'mutex');
      let target = -1;
      if (line.target !== undefined) {
        const t = labels.get(line.target);
        if (t === undefined) throw new Error(`${this.name}: unknown label '${line.target}'`);
        // A label after the last step would send the executors past the end.
        if (t >= pc) throw new Error(`${this.name}: label '${line.target}' has no step after it`);
        target = t;
      }
      let value = line.value ?? 0;
      if (line.site !== undefined) value = index(this.protocol.warnSites, line.site, 'WARN site');
      steps.push(Object.freeze({ kind: line.kind, cell, target, value, text: line.text }));
    }
    const last = steps.at(-1);
    if (last === undefined || (last.kind !== StepKind.Return && last.kind !== StepKind.Jump)) {
      throw new Error(`${this.name}: an operation must end in a return or a jump`);
    }
    return Object.freeze({ name: this.name, steps: Object.freeze(steps) });
  }
}

/** The shared state a sequential executor works on. */
export interface ProtocolMemory {
  /** Integer cells, by the protocol's cell index. */
  readonly cells: Int32Array;
  /** Mutex owners (thread id + 1; 0 = free), by the protocol's mutex index. */
  readonly mutexes: Int32Array;
  /** Called when a WARN_ON_ONCE condition is true; the caller keeps the once-per-site state. */
  warn(site: number): void;
}

export function createProtocolMemory(
  protocol: Protocol,
  warn: (site: number) => void = () => {},
): ProtocolMemory {
  return {
    cells: new Int32Array(protocol.cells.length),
    mutexes: new Int32Array(protocol.mutexes.length),
    warn,
  };
}

/**
 * Run one operation to completion, alone (the perf core and KVM run here with
 * no concurrency: each call is atomic with respect to the model's other calls).
 * Returns 0 or -errno, as the kernel function does.
 */
// Non-null assertions in runOperation index the operation's steps by a pc the
// assembler produced (0, pc + 1 before the return or jump that ends every
// operation, or a label, which build() resolves only to a step before the end),
// and the memory's cells and mutexes by a step's cell, an index into the
// protocol's cell or mutex table that createProtocolMemory sized.
export function runOperation(op: Operation, memory: ProtocolMemory, threadId = 0): number {
  const { cells, mutexes } = memory;
  let pc = 0;
  for (let budget = 10_000; budget > 0; budget--) {
    const step = op.steps[pc]!;
    switch (step.kind) {
      case StepKind.IncNotZero:
        if (cells[step.cell] !== 0) {
          cells[step.cell]!++;
          pc = step.target;
        } else pc++;
        break;
      case StepKind.JumpIfNonZero:
        pc = cells[step.cell] !== 0 ? step.target : pc + 1;
        break;
      case StepKind.JumpIfZero:
        pc = cells[step.cell] === 0 ? step.target : pc + 1;
        break;
      case StepKind.Inc:
        cells[step.cell]!++;
        pc++;
        break;
      case StepKind.Dec:
        cells[step.cell]!--;
        pc++;
        break;
      case StepKind.DecJumpIfNegative:
        pc = --cells[step.cell]! < 0 ? step.target : pc + 1;
        break;
      case StepKind.Store:
        cells[step.cell] = step.value;
        pc++;
        break;
      case StepKind.Lock:
        if (mutexes[step.cell] !== 0) {
          throw new Error(
            `${op.name}: ${step.text} would block forever (already held by thread ${mutexes[step.cell]! - 1})`,
          );
        }
        mutexes[step.cell] = threadId + 1;
        pc++;
        break;
      case StepKind.Unlock:
        if (mutexes[step.cell] !== threadId + 1)
          throw new Error(`${op.name}: ${step.text} by a non-owner`);
        mutexes[step.cell] = 0;
        pc++;
        break;
      case StepKind.WarnOnce:
        memory.warn(step.value);
        pc++;
        break;
      case StepKind.Return:
        return step.value;
      case StepKind.Jump:
        pc = step.target;
        break;
    }
  }
  throw new Error(`${op.name}: did not return (a loop in the protocol)`);
}
