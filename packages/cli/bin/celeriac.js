#!/usr/bin/env node
import { main } from '../dist/index.js';

// Exit explicitly: the app module may hold connections of its own open (a database pool,
// a Redis client), and a worker that has shut down must not linger because of them.
process.exit(await main(process.argv.slice(2)));
