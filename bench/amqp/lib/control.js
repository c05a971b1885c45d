// The child side of bench/amqp/lib/child-process.js for Node processes: JSON lines on fd 3.
import { Socket } from 'node:net';
import { createInterface } from 'node:readline';

const socket = new Socket({ fd: 3, readable: true, writable: true });
socket.on('error', () => undefined);

/** Sends one message to the bench. */
export function send(msg) {
  socket.write(`${JSON.stringify(msg)}\n`);
}

/**
 * Serves the bench's commands with `handlers[cmd](msg)`, one at a time; a handler's return value
 * (an object with a `type`) is sent back. `onEnd` runs when the bench goes away.
 * @param {Record<string, (msg: any) => Promise<object | undefined> | object | undefined>} handlers
 * @param {() => Promise<void>} onEnd
 */
export function serve(handlers, onEnd) {
  let chain = Promise.resolve();
  const rl = createInterface({ input: socket });
  rl.on('line', (line) => {
    const msg = JSON.parse(line);
    chain = chain.then(async () => {
      try {
        const h = handlers[msg.cmd];
        if (!h) throw new Error(`unknown command ${line}`);
        const reply = await h(msg);
        if (reply) send(reply);
      } catch (err) {
        send({
          type: 'error',
          message: err instanceof Error ? (err.stack ?? err.message) : String(err),
        });
      }
    });
  });
  rl.on('close', () => {
    // The bench went away (or closed the channel after "stop"): never linger.
    setTimeout(() => process.exit(0), 3000).unref();
    void onEnd().finally(() => process.exit(0));
  });
}

/** Reports a startup failure and exits. */
export function failStartup(err) {
  send({ type: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  setTimeout(() => process.exit(1), 100);
}
