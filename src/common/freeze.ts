/**
 * Freezing a table all the way down. Object.freeze is shallow: a frozen
 * table of objects still lets a caller change the objects in it (a CPU
 * model's counter count, a protocol's steps), and with it every later run.
 * The tables the project shares (public ones above all) go through here.
 */

/** A type whose every property, at every depth, is readonly (functions and primitives as they are). */
export type DeepReadonly<T> = T extends (...args: never[]) => unknown
  ? T
  : T extends readonly unknown[]
    ? { readonly [K in keyof T]: DeepReadonly<T[K]> } // a mapped array type keeps a tuple a tuple
    : T extends object
      ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
      : T;

/**
 * Freeze `value` and every object and array reachable from it through own
 * properties, and return it. Functions are left alone (an ops table's
 * methods stay callable as they are); cycles are followed once. The contents
 * of a Map or Set cannot be frozen: such fields are typed ReadonlyMap /
 * ReadonlySet instead.
 */
export function deepFreeze<T>(value: T): DeepReadonly<T> {
  const seen = new Set<object>();
  const visit = (v: unknown): void => {
    if (typeof v !== 'object' || v === null || seen.has(v)) return;
    seen.add(v);
    for (const key of Reflect.ownKeys(v)) visit((v as Record<PropertyKey, unknown>)[key]);
    Object.freeze(v);
  };
  visit(value);
  return value as DeepReadonly<T>;
}

/** Whether `value` and everything reachable from it through own properties is frozen (for tests). */
export function isDeepFrozen(value: unknown): boolean {
  const seen = new Set<object>();
  const check = (v: unknown): boolean => {
    if (typeof v !== 'object' || v === null || seen.has(v)) return true;
    seen.add(v);
    if (!Object.isFrozen(v)) return false;
    return Reflect.ownKeys(v).every((key) => check((v as Record<PropertyKey, unknown>)[key]));
  };
  return check(value);
}
