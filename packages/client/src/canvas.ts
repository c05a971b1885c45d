/**
 * The canvas (Celery's `celery.canvas`): signatures, chain, group, chord, map, starmap and
 * chunks, built in Node or received as Celery's dicts, all sent through `sendCanvas`.
 */
export { Signature, signature } from './canvas/signature.js';
export type { CanvasApp, CanvasPart, CanvasResult, SignatureOptions } from './canvas/signature.js';
export { Chain, Group, Chord, chain, group, chord } from './canvas/workflows.js';
export type { ResultOf, ValueOf } from './canvas/workflows.js';
export { XMap, Chunks, taskCanvas } from './canvas/map.js';
export type { TaskCanvas } from './canvas/map.js';
export { sendCanvas } from './canvas/dispatch.js';
