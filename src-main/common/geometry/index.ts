export * from './shapes';
export * from './rle';
export * from './raster';
export * from './trace';
