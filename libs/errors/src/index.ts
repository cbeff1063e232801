export * from './errors';
export * from './faults';
