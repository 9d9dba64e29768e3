/**
 * A sleeping mutex in one Int32Array word, after "Futexes Are Tricky"
 * (Ulrich Drepper, 2011), mutex2: 0 = unlocked, 1 = locked, 2 = locked and
 * maybe contended. The uncontended lock and unlock are one atomic each and no
 * system call; a waiter sets 2 so the unlocker knows to wake one.
 * Atomics.wait / Atomics.notify stand for FUTEX_WAIT / FUTEX_WAKE.
 */
export function mutexLock(word: Int32Array, index: number): void {
  let c = Atomics.compareExchange(word, index, 0, 1);
  if (c === 0) return;
  // Contended: announce a waiter, then sleep until the word leaves 2.
  if (c !== 2) c = Atomics.exchange(word, index, 2);
  while (c !== 0) {
    Atomics.wait(word, index, 2);
    c = Atomics.exchange(word, index, 2);
  }
}

export function mutexUnlock(word: Int32Array, index: number): void {
  // 1 -> 0 needs no wake; 2 -> 1 means someone may be asleep: clear and wake one.
  if (Atomics.sub(word, index, 1) !== 1) {
    Atomics.store(word, index, 0);
    Atomics.notify(word, index, 1);
  }
}
