import { ConfigError, env, infraSchema, loadConfig, z } from './index';

const schema = z.object({
  PORT: env.port(5000),
  DEBUG: env.bool(false),
  NAME: z.string().min(1),
  DB_PASSWORD: z.string().min(8).optional(),
  ...infraSchema,
});

describe('loadConfig', () => {
  it('applies defaults and coerces types', () => {
    const cfg = loadConfig(schema, { NAME: 'x' });
    expect(cfg.PORT).toBe(5000);
    expect(cfg.DEBUG).toBe(false);
    expect(cfg.DATA_DIR).toBe('./data');
    expect(Object.isFrozen(cfg)).toBe(true);
  });

  it('reads given values', () => {
    const cfg = loadConfig(schema, { NAME: 'x', PORT: '8080', DEBUG: 'yes', AMQP_URL: 'amqp://h' });
    expect(cfg).toMatchObject({ PORT: 8080, DEBUG: true, AMQP_URL: 'amqp://h' });
  });

  it('names every bad or missing variable in one error', () => {
    let caught: unknown;
    try {
      loadConfig(schema, { PORT: 'eighty', DATABASE_URL: 'mysql://x' });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    const message = (caught as ConfigError).message;
    expect(message).toContain('PORT="eighty" is invalid');
    expect(message).toContain('NAME is required');
    expect(message).toContain('DATABASE_URL="mysql://x" is invalid');
    expect(message.split('\n')).toHaveLength(1);
  });

  it('never echoes a secret value', () => {
    expect(() => loadConfig(schema, { NAME: 'x', DB_PASSWORD: 'short' })).toThrow(
      'DB_PASSWORD="***" is invalid',
    );
  });

  it('never echoes a password inside a URL', () => {
    expect(() => loadConfig(schema, { NAME: 'x', AMQP_URL: 'http://guest:hunter2@mq:5672' })).toThrow(
      'AMQP_URL="http://guest:***@mq:5672" is invalid',
    );
  });

  it('treats empty variables as unset', () => {
    expect(loadConfig(schema, { NAME: 'x', PORT: '' }).PORT).toBe(5000);
  });
});
