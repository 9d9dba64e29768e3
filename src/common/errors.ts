/**
 * Errors are data (docs/architecture.md principle 5).
 *
 * Kernel failures carry a Linux errno and are thrown as KernelError subclasses
 * (PerfError from perf, KvmError from KVM). A fault a guest takes is a
 * GuestFault, raised inside the guest program and never disturbing host state.
 * A fault the silicon raises (an x86 exception on a bad MSR access) is a
 * CpuFault in hw/; KVM turns it into a GuestFault for the guest.
 */
import { deepFreeze } from './freeze.ts';

/** Linux errno values (include/uapi/asm-generic/errno-base.h, errno.h). */
export const ERRNO = deepFreeze({
  EPERM: 1,
  ENOENT: 2,
  ESRCH: 3,
  ENXIO: 6,
  E2BIG: 7,
  EBADF: 9,
  ENOMEM: 12,
  EACCES: 13,
  EFAULT: 14,
  EBUSY: 16,
  EEXIST: 17,
  ENODEV: 19,
  EINVAL: 22,
  ENOSPC: 28,
  EOPNOTSUPP: 95,
} as const);

export type Errno = keyof typeof ERRNO;

export class KernelError extends Error {
  /** The errno name, e.g. 'EBUSY'. */
  readonly errno: Errno;
  /** The kernel return value: -errno, e.g. EBUSY -> -16. */
  readonly code: number;

  constructor(errno: Errno, message?: string) {
    super(message ? `${errno}: ${message}` : errno);
    this.name = new.target.name;
    this.errno = errno;
    this.code = -ERRNO[errno];
  }
}

/** An error returned by host perf (perf_event_open, the mediated-PMU APIs). */
export class PerfError extends KernelError {}

/** An error returned by KVM (VM, vCPU and PMU ioctls). */
export class KvmError extends KernelError {}

export type X86Exception = '#GP' | '#UD';

/** Vector numbers of the x86 exceptions the model raises. */
export const EXCEPTION_VECTOR: Readonly<Record<X86Exception, number>> = deepFreeze({
  '#UD': 6,
  '#GP': 13,
});

/** A fault taken by a guest: thrown inside the guest program. */
export class GuestFault extends Error {
  readonly vector: number;
  readonly exception: X86Exception;

  constructor(exception: X86Exception, message?: string) {
    super(message ? `${exception}: ${message}` : exception);
    this.name = 'GuestFault';
    this.exception = exception;
    this.vector = EXCEPTION_VECTOR[exception];
  }
}
