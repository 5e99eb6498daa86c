#!/usr/bin/env node
// `edgeops` (npx edgeops, or after `npm link`): cli/main.ts through tsx, on the Node that runs
// it (npm puts the project's Node 24 first on PATH). Bins must be JavaScript, hence this launcher.
import { register } from 'tsx/esm/api';

register();
await import('./main.ts');
