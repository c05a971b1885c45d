// The app module the built-ins' pool test loads, in the test and in every pool thread or child.
// Plain JavaScript: threads and children cannot load TypeScript.
import { Celeriac } from '@celeriac/client';

const silent = {
  trace() {},
  debug() {},
  info() {},
  warn() {},
  error() {},
  fatal() {},
  child() {
    return silent;
  },
};

export const app = new Celeriac({ broker: 'memory://builtins-fixture', logger: silent });
export const double = app.task('fx.double', (x) => x * 2);
