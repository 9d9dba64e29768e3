// Types of dist-freshness.mjs, for the tests that import it.
export declare const BUILD_STAMP: string;
/** Why dist/ under `root` does not reflect the sources, or undefined when it does. */
export declare function distStaleness(root: string): string | undefined;
