/** End to end over RabbitMQ at AMQP_URL (default amqp://guest:guest@127.0.0.1:5672). */
import * as amqp from 'amqplib';
import { schedulerQueues } from '@strato/contracts';
import { endToEndScenarios } from './end-to-end.scenarios';

const AMQP_URL = process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';

async function deleteQueues(names: string[]): Promise<void> {
  const connection = await amqp.connect(AMQP_URL);
  try {
    for (const name of names) {
      {
        const channel = await connection.createChannel();
        await channel.deleteQueue(name).catch(() => undefined);
        await channel.close().catch(() => undefined);
      }
    }
  } finally {
    await connection.close();
  }
}

/** The scheduler's queues have fixed names: start from empty ones, and leave none behind. */
const schedulerQueueNames = Object.values(schedulerQueues).flatMap(({ queue }) => [queue, `${queue}.dlq`]);
beforeAll(() => deleteQueues(schedulerQueueNames));
afterAll(() => deleteQueues(schedulerQueueNames));

endToEndScenarios('RabbitMQ', AMQP_URL, deleteQueues);
