/**
 * The object-storage service as the benchmark runs it: a separate process (so its RSS and CPU
 * are its own), configured from the environment like main.ts, with one static S3 key.
 */
import '../src/threadpool';
import { createLogger } from '@strato/log';
import { createObjectStorageService } from '../src/app';
import { StaticCredentialResolver } from '../src/auth/credentials';
import { loadObjectStorageConfig } from '../src/config';

export const BENCH_ACCESS_KEY = 'AKIABENCHMARK0000001';
export const BENCH_SECRET_KEY = 'bench-secret-key-0123456789abcdefghijklmn';
export const BENCH_PROJECT = 'benchproject';

async function main(): Promise<void> {
  const config = loadObjectStorageConfig();
  const service = await createObjectStorageService(config, {
    log: createLogger('object-storage', { level: config.LOG_LEVEL }),
    credentials: new StaticCredentialResolver([
      {
        accessKey: BENCH_ACCESS_KEY,
        secret: BENCH_SECRET_KEY,
        userId: 'bench',
        projectId: BENCH_PROJECT,
        roles: [],
      },
    ]),
  });
  await service.start();
  process.send?.({ port: service.port() });
  process.on('SIGTERM', () => {
    void service.stop().then(() => process.exit(0));
  });
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`bench server failed: ${String(err)}\n`);
    process.exit(1);
  });
}
