/**
 * perf's part of the guest context switch as the perf core runs it: the
 * protocol of guest-context-protocol.ts (perf_load_guest_context,
 * perf_put_guest_context) executed sequentially on per-CPU memory, the very
 * steps `vpmu check guest-context` interleaves. It owns guest_ctx_loaded and
 * the guest time's stamp; the perf core does the scheduling itself.
 */
import { createProtocolMemory, runOperation, type ProtocolMemory } from '../common/protocol.ts';
import { GUEST_CTX_LOADED, PERF_GUEST_CONTEXT } from './guest-context-protocol.ts';

export class GuestContextSwitch {
  // Non-null assertions read `memory` (`cpus` entries, from the constructor)
  // at a cpu below that: the core's CPUs (core.ts states why).
  private readonly memory: ProtocolMemory[];
  /** The WARN site the last call hit, or -1. */
  private warned = -1;

  constructor(cpus: number) {
    this.memory = Array.from({ length: cpus }, () =>
      createProtocolMemory(PERF_GUEST_CONTEXT, (site) => (this.warned = site)),
    );
  }

  /** perf_load_guest_context's protocol steps on `cpu`; throws where upstream WARNs. */
  load(cpu: number): void {
    this.run(cpu, PERF_GUEST_CONTEXT.ops.perfLoadGuestContext);
  }

  /** perf_put_guest_context's protocol steps on `cpu`; throws where upstream WARNs. */
  put(cpu: number): void {
    this.run(cpu, PERF_GUEST_CONTEXT.ops.perfPutGuestContext);
  }

  isLoaded(cpu: number): boolean {
    return this.memory[cpu]!.cells[GUEST_CTX_LOADED] === 1;
  }

  private run(cpu: number, op: (typeof PERF_GUEST_CONTEXT.ops)['perfLoadGuestContext']): void {
    this.warned = -1;
    runOperation(op, this.memory[cpu]!);
    // The WARN path returned (and unlocked): a caller bug the simulator stops on.
    if (this.warned === 0)
      throw new Error(`perf_load_guest_context: a guest is already loaded on CPU ${cpu}`);
    if (this.warned === 1) throw new Error(`perf_put_guest_context: no guest loaded on CPU ${cpu}`);
    if (this.warned >= 0)
      throw new Error(
        `perf guest context on CPU ${cpu}: ${PERF_GUEST_CONTEXT.warnSites[this.warned]} broken`,
      );
  }
}
