export * from './tokens';
export * from './middleware';
export * from './passwords';
