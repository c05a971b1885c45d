/**
 * A message whose headers decode but whose body does not: dead-lettered, and FAILURE stored
 * for the id its headers give (Celery's exception for that body), so `get()` rejects instead
 * of hanging. The Python side of this is interop/undecodable.python.integration.test.ts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Celeriac, TaskError } from '@celeriac/client';
import {
  createTaskMessage,
  encodeTaskMessage,
  msgpackSerializer,
  silentLogger,
  type BrokerMessage,
} from '@celeriac/core';
import { Worker } from './index.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(): Promise<{ app: Celeriac; worker: Worker }> {
  const app = new Celeriac({
    broker: `memory://undecodable-${Math.random().toString(36).slice(2)}`,
    logger: silentLogger,
  });
  const worker = new Worker(app, { concurrency: 2 });
  cleanups.push(async () => {
    await worker.shutdown({ timeout: 1 });
    await app.close();
  });
  app.task('tasks.ok', () => 'fine');
  await worker.start();
  return { app, worker };
}

function wire(o: { ignoreResult?: boolean } = {}): { id: string; message: BrokerMessage } {
  const msg = createTaskMessage({ name: 'tasks.ok', ignoreResult: o.ignoreResult ?? false });
  return { id: msg.headers.id, message: encodeTaskMessage(msg) };
}

async function failureOf(app: Celeriac, id: string): Promise<TaskError> {
  const err = await app
    .asyncResult(id)
    .get({ timeout: 5 })
    .catch((e: unknown) => e);
  expect(err).toBeInstanceOf(TaskError);
  return err as TaskError;
}

describe('a message whose body cannot be decoded', () => {
  it('stores FAILURE with the exception Celery stores, and still goes to dead letters', async () => {
    const { app } = await setup();
    const broker = await app.broker();
    const pickle = wire();
    const json = wire();
    const msgpack = wire();
    const shape = wire();
    await broker.publish('celery', {
      ...pickle.message,
      contentType: 'application/x-python-serialize',
      contentEncoding: 'binary',
      body: Buffer.from([0x80, 0x04, 0x95]),
    });
    await broker.publish('celery', { ...json.message, body: Buffer.from('[[1, 2], {') });
    await broker.publish('celery', {
      ...msgpack.message,
      contentType: msgpackSerializer.contentType,
      contentEncoding: msgpackSerializer.contentEncoding,
      body: Buffer.from([0x93, 0x90]), // an array of three that ends after one
    });
    await broker.publish('celery', { ...shape.message, body: Buffer.from('[[], [], {}]') });

    const refused = await failureOf(app, pickle.id);
    expect(refused.type).toBe('ContentDisallowed');
    expect(refused.module).toBe('kombu.exceptions');
    expect(refused.remoteMessage).toBe(
      'Refusing to deserialize untrusted content of type pickle (application/x-python-serialize)',
    );
    for (const id of [json.id, msgpack.id]) {
      const err = await failureOf(app, id);
      expect(err.type).toBe('DecodeError');
      expect(err.module).toBe('kombu.exceptions');
      expect(err.remoteMessage).not.toBe('');
    }
    const invalid = await failureOf(app, shape.id);
    expect(invalid).toMatchObject({ type: 'InvalidTaskError', module: 'celery.exceptions' });
    expect(invalid.remoteMessage).toMatch(/kwargs must be a mapping/);

    await expect.poll(() => broker.deadLetters.count('celery')).toBe(4);
    const dead = await broker.deadLetters.list('celery');
    expect(dead.map((d) => d.message.headers['id']).sort()).toEqual(
      [pickle.id, json.id, msgpack.id, shape.id].sort(),
    );
    expect(dead.find((d) => d.message.headers['id'] === pickle.id)?.reason.code).toBe(
      'CELERIAC_ERR_UNSUPPORTED_CONTENT_TYPE',
    );
  });

  it('stores nothing when results are ignored or the headers give no task id', async () => {
    const { app, worker } = await setup();
    const broker = await app.broker();
    const ignored = wire({ ignoreResult: true });
    const noTask = wire();
    await broker.publish('celery', { ...ignored.message, body: Buffer.from('{') });
    await broker.publish('celery', {
      ...noTask.message,
      headers: { ...noTask.message.headers, task: undefined },
      body: Buffer.from('{'),
    });
    await expect.poll(() => broker.deadLetters.count('celery')).toBe(2);
    // A FAILURE would have been stored before the dead letter: none was.
    expect(await app.sendTask('tasks.ok').get({ timeout: 5 })).toBe('fine');
    expect(await app.asyncResult(ignored.id).state()).toBe('PENDING');
    expect(await app.asyncResult(noTask.id).state()).toBe('PENDING');
    expect(worker.state).toBe('running');
  });
});
