export { builtinTasks, runsInWorker, TasksWithBuiltins } from './builtin-tasks.js';
