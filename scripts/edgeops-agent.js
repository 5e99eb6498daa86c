#!/usr/bin/env node
// `edgeops-agent` from a checkout (after `npm link`): device/daemon/main.ts through tsx, on the
// Node that runs it (22.22 or later). Devices install the bundle instead: `npm run build:agent`
// and device/INSTALL.md.
import { register } from 'tsx/esm/api';

register();
await import('../device/daemon/main.ts');
