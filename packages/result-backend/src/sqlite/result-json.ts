import { CeleriacError, ErrorCodes, jsonSerializer, type ResultDocument } from '@celeriac/core';
import { isResultDocument } from '../result-document.js';

/** A result document as the `payload` column holds it; `CELERIAC_ERR_SERIALIZATION` when it is not JSON. */
export function encodeResult(doc: ResultDocument): string {
  try {
    return jsonSerializer.encodeText(doc);
  } catch (err) {
    throw new CeleriacError(
      ErrorCodes.SERIALIZATION,
      `the result of task ${doc.task_id} cannot be stored as JSON: ${(err as Error).message}`,
      { cause: err, details: { taskId: doc.task_id } },
    );
  }
}

/** A stored `payload` back as a result document, checked (the file is shared: anyone may write it). */
export function decodeResult(text: string, taskId: string, file: string): ResultDocument {
  let value: unknown;
  try {
    value = jsonSerializer.decode(Buffer.from(text, 'utf8'));
  } catch (err) {
    throw new CeleriacError(
      ErrorCodes.SERIALIZATION,
      `the stored result of task ${taskId} in ${file} is not JSON`,
      { cause: err, details: { taskId } },
    );
  }
  if (!isResultDocument(value)) {
    throw new CeleriacError(
      ErrorCodes.SERIALIZATION,
      `the stored result of task ${taskId} in ${file} is not a Celery result document (no "status")`,
      { details: { taskId } },
    );
  }
  if (!Array.isArray(value.children)) value.children = [];
  return value;
}
