import { ConfigError } from '@strato/config';
import { loadSchedulerConfig } from './config';

describe('scheduler configuration', () => {
  it('keeps few PostgreSQL connections unless told otherwise', () => {
    expect(loadSchedulerConfig({}).DB_POOL_MAX).toBe(3);
    expect(loadSchedulerConfig({ DB_POOL_MAX: '8' }).DB_POOL_MAX).toBe(8);
  });

  it('refuses a pool without a connection', () => {
    expect(() => loadSchedulerConfig({ DB_POOL_MAX: '0' })).toThrow(ConfigError);
    expect(() => loadSchedulerConfig({ DB_POOL_MAX: 'many' })).toThrow(/DB_POOL_MAX="many" is invalid/);
  });
});
