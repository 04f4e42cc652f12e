export * from './errors';
export * from './model';
export * from './contract';
export * from './api';
export * from './editing';
