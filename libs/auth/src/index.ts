export * from './tokens';
export * from './middleware';
export * from './passwords';
export * from './service-token';
