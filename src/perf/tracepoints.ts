/**
 * perf's trace points (the model's counterparts of the kernel's, see
 * common/tracepoint.ts): one set per perf instance, the host's or a guest
 * kernel's. What they mark:
 *
 * - perf_event_nmi_handler, entered and returned (with the samples it wrote);
 * - the timer interrupt running perf's due timers (the tick and the
 *   multiplexing hrtimer: hrtimer_expire_entry / hrtimer_expire_exit), and
 *   perf_rotate_context inside it;
 * - each call KVM makes into perf through its exported entry points
 *   (EXPORT_SYMBOL_FOR_KVM; perf/kvm-exports.ts).
 */
import { Tracepoint } from '../common/tracepoint.ts';

/**
 * perf's entry points that KVM calls and the simulator prices, by their
 * kernel names. A call KVM makes through PerfKvmExports that is not here is
 * priced by the MSR accesses it makes, if any (perf/kvm-exports.ts says which).
 */
export const KVM_PERF_CALLS = [
  'perf_event_create_kernel_counter',
  'perf_event_release_kernel',
  'perf_event_period',
  'perf_event_pause',
  'perf_event_enable',
  'perf_event_read_value',
  'perf_load_guest_context',
  'perf_put_guest_context',
] as const;

export type KvmPerfCall = (typeof KVM_PERF_CALLS)[number];

export class PerfTracepoints {
  /** perf_event_nmi_handler entered on `cpu` (before it reads any MSR). */
  readonly nmiEntry = new Tracepoint<[cpu: number]>('perf:nmi_handler_entry');
  /** perf_event_nmi_handler returning: whether it handled the NMI, and how many samples it wrote. */
  readonly nmiExit = new Tracepoint<[cpu: number, handled: boolean, samples: number]>(
    'perf:nmi_handler_exit',
  );
  /** A timer interrupt on `cpu` runs perf's due timers (the tick, the multiplexing timer). */
  readonly timerEntry = new Tracepoint<[cpu: number]>('timer:hrtimer_expire_entry');
  /** The timer interrupt's handler returns. */
  readonly timerExit = new Tracepoint<[cpu: number]>('timer:hrtimer_expire_exit');
  /** perf_rotate_context moved the flexible groups on `cpu` (inside a timer interrupt). */
  readonly rotate = new Tracepoint<[cpu: number]>('perf:perf_rotate_context');
  /** KVM called one of perf's exported entry points; `cpu` is the CPU it names, or -1. */
  readonly kvmCall = new Tracepoint<[call: KvmPerfCall, cpu: number]>('perf:kvm_call');
}
