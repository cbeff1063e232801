export * from './context';
export * from './probes';
export * from './server';
export * from './process';
