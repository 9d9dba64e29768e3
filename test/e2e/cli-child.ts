/**
 * `vpmu ARGS...` in a child process, as a user runs it (bin/vpmu.mjs from the
 * project root, colour off), for the end-to-end tests that read its output.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const BIN = join(ROOT, 'bin/vpmu.mjs');

export interface CliRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Run a command from the project root to its end, stdout and stderr piped;
 * `env` is laid over this process's environment (an undefined value removes
 * a variable). A child still running after `timeoutMs` is killed, so a hang
 * fails its test.
 */
export function runChild(
  command: string,
  args: readonly string[],
  env: Record<string, string | undefined>,
  timeoutMs: number,
): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: ROOT, env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** `vpmu ARGS...` with colour off; killed after 4 minutes. */
export function runVpmu(args: readonly string[]): Promise<CliRun> {
  return runChild(process.execPath, [BIN, ...args], { NO_COLOR: '1' }, 240_000);
}
