export { builtinTasks, TasksWithBuiltins } from './builtin-tasks.js';
