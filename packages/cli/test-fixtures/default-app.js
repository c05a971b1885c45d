// An app module that names no broker: `celeriac` gives it the embedded default.
import { Celeriac } from '@celeriac/client';

export const app = new Celeriac();

export const add = app.task('tasks.add', (a, b) => a + b);
