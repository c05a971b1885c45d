import { afterAll, beforeAll } from 'vitest';
import { brokerConformance, rabbitMqForTests, type RabbitMqForTests } from '@celeriac/testing';
import { AmqpBroker } from './index.js';

// AMQP_URL, else a throwaway RabbitMQ node for this file (never the machine's node at 5672).
let rabbit: RabbitMqForTests | undefined;
beforeAll(async () => {
  rabbit = await rabbitMqForTests();
});
afterAll(async () => {
  await rabbit?.release();
});

brokerConformance(
  'AmqpBroker',
  () => {
    // Priorities need x-max-priority on AMQP (Celery: task_queue_max_priority).
    const broker = new AmqpBroker({ url: rabbit!.url, maxPriority: 10 });
    return Promise.resolve({ broker, close: () => broker.close() });
  },
  { priority: 'higher-first' },
);
