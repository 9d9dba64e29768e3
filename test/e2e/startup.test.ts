/**
 * What each start loads, not how long it takes (timing is `npm run bench`'s
 * job): a module-loading hook records every module Node loads, and
 *   - `vpmu --version` and `--help` load neither the YAML parser, zod, vega,
 *     the scenario loader nor the simulator; `vpmu scenarios` only the YAML
 *     parser of those;
 *   - `vpmu run` without --html does not load vega or vega-lite;
 *   - the library (`import 'vpmu'`, dist/index.js) loads none of the CLI's
 *     or the reports' packages.
 * Each from the compiled dist/, as users run it.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = join(ROOT, 'bin/vpmu.mjs');

/** Module-loading hooks (node:module register) that append each loaded URL to $VPMU_LOADED. */
const HOOKS = `import { appendFileSync } from 'node:fs';
export async function load(url, context, next) {
  appendFileSync(process.env.VPMU_LOADED, url + '\\n');
  return next(url, context);
}
`;

let dir = '';
let register = '';

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'vpmu-startup-'));
  writeFileSync(join(dir, 'hooks.mjs'), HOOKS);
  register = join(dir, 'register.mjs');
  writeFileSync(
    register,
    `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(join(dir, 'hooks.mjs')).href)});\n`,
  );
});

after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** The modules a `node <args>` run loads, as paths relative to the package root or `node:x`. */
function modulesLoaded(name: string, args: string[]): string[] {
  const list = join(dir, `${name}.txt`);
  writeFileSync(list, '');
  const r = spawnSync(process.execPath, ['--import', register, ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, VPMU_LOADED: list },
    timeout: 60_000,
  });
  assert.equal(r.status, 0, r.stderr);
  return readFileSync(list, 'utf8')
    .trim()
    .split('\n')
    .map((url) => (url.startsWith('file:') ? fileURLToPath(url).slice(ROOT.length) : url));
}

/** The npm packages among the modules (the first folder under node_modules/). */
const packages = (modules: string[]) =>
  new Set(modules.flatMap((m) => /(?:^|\/)node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(m)?.[1] ?? []));

const HEAVY = ['yaml', 'zod', 'vega', 'vega-lite'];
const HEAVY_OWN = ['dist/sim/scenario.js', 'dist/sim/simulator.js', 'dist/report/html.js'];

describe('what a start loads', () => {
  for (const args of [['--version'], ['--help']]) {
    test(`vpmu ${args[0]}: the compiled CLI, and none of ${HEAVY.join(', ')}, the scenario loader or the simulator`, () => {
      const loaded = modulesLoaded(args[0]!.slice(2), [BIN, ...args]);
      assert.ok(loaded.includes('dist/cli/main.js'), 'runs dist/, not the sources');
      assert.ok(!loaded.some((m) => m.startsWith('src/')), 'no TypeScript source');
      assert.ok(packages(loaded).has('commander'), 'the hook saw the packages');
      assert.deepEqual(
        HEAVY.filter((p) => packages(loaded).has(p)),
        [],
      );
      assert.deepEqual(
        HEAVY_OWN.filter((m) => loaded.includes(m)),
        [],
      );
    });
  }

  test('vpmu scenarios: the YAML parser, but not zod, vega or the simulator', () => {
    const loaded = modulesLoaded('scenarios', [BIN, 'scenarios']);
    assert.ok(packages(loaded).has('yaml'));
    assert.deepEqual(
      ['zod', 'vega', 'vega-lite'].filter((p) => packages(loaded).has(p)),
      [],
    );
    assert.deepEqual(
      HEAVY_OWN.filter((m) => loaded.includes(m)),
      [],
    );
  });

  test('vpmu run without --html: the simulator, but not vega or vega-lite', () => {
    const loaded = modulesLoaded('run', [BIN, 'run', '--duration', '0.01', '--json']);
    assert.ok(loaded.includes('dist/sim/simulator.js'));
    assert.deepEqual(
      ['vega', 'vega-lite'].filter((p) => packages(loaded).has(p)),
      [],
    );
  });

  test("the library: import 'vpmu' loads no CLI, report or scenario package", () => {
    const loaded = modulesLoaded('library', [
      '--input-type=module',
      '-e',
      `import { createHost } from ${JSON.stringify(pathToFileURL(join(ROOT, 'dist/index.js')).href)}; createHost();`,
    ]);
    assert.ok(loaded.includes('dist/sim/host.js'));
    assert.deepEqual([...packages(loaded)], []);
  });
});
