/** Shared by the RabbitMQ tests: broker URL, a quiet logger, and cleanup of test topology. */
import * as amqp from 'amqplib';
import { createLogger } from '@strato/log';

export const AMQP_URL = process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
export const log = createLogger('bus-test', { level: process.env.BUS_TEST_LOG ?? 'silent' });

/** Deletes queues and exchanges (missing ones are fine). */
export async function deleteTopology(names: { exchanges: string[]; queues: string[] }): Promise<void> {
  const connection = await amqp.connect(AMQP_URL);
  try {
    for (const queue of names.queues) {
      const channel = await connection.createChannel();
      await channel.deleteQueue(queue).catch(() => undefined);
      await channel.close().catch(() => undefined);
    }
    for (const exchange of names.exchanges) {
      const channel = await connection.createChannel();
      await channel.deleteExchange(exchange).catch(() => undefined);
      await channel.close().catch(() => undefined);
    }
  } finally {
    await connection.close();
  }
}
