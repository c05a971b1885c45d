#!/usr/bin/env node
import { main } from '../dist/index.js';

// Should a command ever wait on something that holds no handle open, Node would end the
// process with code 13 and no word: say what happened instead.
let settled = false;
process.once('exit', () => {
  if (!settled) {
    process.stderr.write(
      'celeriac: stopped while still waiting (nothing held the process open); this is a bug, please report it\n',
    );
    process.exitCode = 13;
  }
});
const code = await main(process.argv.slice(2));
settled = true;
// Exit explicitly: the app module may hold connections of its own open (a database pool,
// a Redis client), and a worker that has shut down must not linger because of them.
process.exit(code);
