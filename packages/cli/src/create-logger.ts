import { destination, pino, type Logger as PinoLogger } from 'pino';

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** pino, pretty-printed on a terminal and JSON lines otherwise (for log shippers). */
export function createLogger(
  level: LogLevel,
  stream: NodeJS.WritableStream & { isTTY?: boolean } = process.stderr,
): PinoLogger {
  if (stream.isTTY) {
    return pino({
      level,
      transport: {
        target: 'pino-pretty',
        options: {
          destination: 2,
          colorize: true,
          translateTime: 'SYS:HH:MM:ss.l',
          ignore: 'pid,hostname',
        },
      },
    });
  }
  return pino({ level }, destination({ fd: 2, sync: false }));
}
