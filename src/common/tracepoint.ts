/**
 * Trace points: the model's counterpart of the kernel's tracepoints
 * (include/linux/tracepoint.h, TRACE_EVENT in include/trace/events/). The
 * modelled kernel code calls a trace point where something happens (a
 * VM-exit, perf's NMI handler, a call KVM makes into perf); whoever wants to
 * know attaches a probe. The cost meter prices operations through them, the
 * Perfetto trace records them; neither replaces or wraps a method.
 *
 * A trace point nobody listens to costs its call site one property read and
 * a null check, as a disabled static key costs the kernel one patched jump:
 *
 *   const probe = this.trace.exit.probe;
 *   if (probe !== null) probe(reason, fastpath, msr);
 *
 * Arguments are passed positionally (no object per event), and probes run
 * synchronously in the order they were attached.
 */

export type Probe<A extends readonly unknown[]> = (...args: A) => void;

export class Tracepoint<A extends readonly unknown[]> {
  /**
   * What the call site calls: null when no probe is attached, the probe
   * itself when there is one, a fan-out over all of them otherwise. Call
   * sites read it; only attach() and its detach change it.
   */
  readonly probe: Probe<A> | null = null;
  private probes: readonly Probe<A>[] = [];

  /** `name` is the event's name as a trace shows it, e.g. "kvm:kvm_exit". */
  constructor(readonly name: string) {}

  /** Attach a probe; the function returned detaches it (once). */
  attach(probe: Probe<A>): () => void {
    this.probes = [...this.probes, probe];
    this.update();
    let attached = true;
    return () => {
      if (!attached) return;
      attached = false;
      const i = this.probes.indexOf(probe);
      this.probes = [...this.probes.slice(0, i), ...this.probes.slice(i + 1)];
      this.update();
    };
  }

  /** Whether any probe is attached (tracepoint_enabled()). */
  get enabled(): boolean {
    return this.probe !== null;
  }

  private update(): void {
    const probes = this.probes;
    const [first] = probes;
    let probe: Probe<A> | null;
    if (first === undefined) probe = null;
    else if (probes.length === 1) probe = first;
    else
      probe = (...args: A) => {
        for (const p of probes) p(...args);
      };
    (this as { probe: Probe<A> | null }).probe = probe;
  }
}

/** Detach functions collected while attaching, run together (a subscriber's teardown). */
export class Attachments {
  private readonly detachers: (() => void)[] = [];

  add<A extends readonly unknown[]>(tracepoint: Tracepoint<A>, probe: NoInfer<Probe<A>>): void {
    this.detachers.push(tracepoint.attach(probe));
  }

  detachAll(): void {
    for (const detach of this.detachers.splice(0)) detach();
  }
}
