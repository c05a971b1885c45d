import type { BrokerMessage, DeadLetterReason, PublishItem } from '@celeriac/core';
import type { AdminChannel } from './admin-channel.js';
import type { AmqpConnection } from './connection.js';
import type { CompiledAmqpBrokerOptions } from './options.js';
import type { PublishJob } from './publisher.js';
import type { Topology } from './topology.js';

/**
 * What the broker shares with its consumers and its dead-letter store. Kept apart from
 * `AmqpBroker` so those modules never import the broker (no cycles).
 */
export interface AmqpContext {
  readonly options: CompiledAmqpBrokerOptions;
  /**
   * The connection consumers use, kept apart from publishing, which RabbitMQ blocks during an
   * alarm (see `AmqpBroker`); it publishes only rpc:// results (`AmqpFusedAck.replyThenAck`).
   */
  readonly consumeConnection: AmqpConnection;
  /** Declarations, queries and dead-letter listings: a connection that never publishes. */
  readonly adminConnection: AmqpConnection;
  readonly admin: AdminChannel;
  readonly topology: Topology;
  /** Publishes messages to their queue (or its delay levels) and resolves once RabbitMQ confirmed them. */
  publish(items: readonly PublishItem[]): Promise<void>;
  /** Publishes prepared jobs and resolves once RabbitMQ confirmed them. */
  publishJobs(jobs: readonly PublishJob[]): Promise<void>;
  /** Publishes a copy of a message to `queue`'s dead letters, with the reason in its headers. */
  deadLetter(queue: string, message: BrokerMessage, reason: DeadLetterReason): Promise<void>;
}
