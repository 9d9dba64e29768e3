/**
 * The mediated-PMU accounting as the perf core runs it: the protocol of
 * mediated-protocol.ts executed sequentially on the perf core's counters,
 * with WARN_ON_ONCE splats going to the kernel log once per call site.
 */
import {
  createProtocolMemory,
  runOperation,
  type Operation,
  type ProtocolMemory,
} from '../common/protocol.ts';
import {
  NR_INCLUDE_GUEST_EVENTS,
  NR_MEDIATED_PMU_VMS,
  WARN_SITES,
  type AccountingOperation,
  type AccountingProtocol,
} from './mediated-protocol.ts';
import { item } from '../common/item.ts';

export class MediatedAccounting {
  private readonly memory: ProtocolMemory;
  private readonly warned = new Set<number>();

  constructor(
    readonly protocol: AccountingProtocol,
    private readonly log: (line: string) => void,
    private readonly cpuForLog: () => number,
  ) {
    this.memory = createProtocolMemory(protocol, (site) => this.warnOnce(site));
  }

  get nrMediatedPmuVms(): number {
    return item(this.memory.cells, NR_MEDIATED_PMU_VMS);
  }

  get nrIncludeGuestEvents(): number {
    return item(this.memory.cells, NR_INCLUDE_GUEST_EVENTS);
  }

  /** Run one operation; 0 or -errno. */
  run(op: AccountingOperation): number {
    return runOperation(this.protocol.operations[op], this.memory);
  }

  /**
   * Run an operation of a protocol that extends the accounting's shape (its
   * first cells and mutex are perf's; KVM's VM lifecycle adds its own after
   * them) over perf's counters plus `extraCells`, sequentially. The caller's
   * cells are read and written back.
   */
  runExtended(op: Operation, extraCells: Int32Array, extraMutexes: number): number {
    const own = this.memory.cells.length;
    const cells = new Int32Array(own + extraCells.length);
    cells.set(this.memory.cells);
    cells.set(extraCells, own);
    const memory: ProtocolMemory = {
      cells,
      mutexes: new Int32Array(this.memory.mutexes.length + extraMutexes),
      warn: (site) => this.warnOnce(site),
    };
    const result = runOperation(op, memory);
    this.memory.cells.set(cells.subarray(0, own));
    extraCells.set(cells.subarray(own));
    return result;
  }

  /** WARN_ON_ONCE: the first time a site fires, a splat in dmesg; never again. */
  private warnOnce(site: number): void {
    if (this.warned.has(site)) return;
    this.warned.add(site);
    const fn = item(WARN_SITES, site);
    this.log(`WARNING: CPU: ${this.cpuForLog()} PID: 1 at kernel/events/core.c ${fn}+0x5a/0x70`);
    this.log(`Call Trace: ${fn} (counter already zero: underflow refused)`);
  }
}
