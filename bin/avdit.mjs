#!/usr/bin/env node
// The `avdit` command: runs cli/main.ts through tsx (no build step).
import { register } from 'tsx/esm/api';
register();
await import('../cli/main.ts');
