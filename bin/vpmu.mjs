#!/usr/bin/env node
// The `vpmu` command. The sources are TypeScript run through tsx, so a fresh
// clone needs no build step: register the loader, then start the CLI.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/main.ts');
