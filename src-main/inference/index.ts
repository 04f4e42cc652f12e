export { detect, InferencePool, sharedPool, type PoolOptions, type PoolStats } from './pool';
export { detectInProcess, type DetectResult, type SessionKey } from './detect';
export { inspectModel, type ModelInspection } from './inspect';
export { float32Tensor, getSession, releaseSessions, type LoadedSession, type SessionOptions } from './sessions';
export { preprocess, type ImageInput, type PixelOptions, type Preprocessed, type RawPixels } from './preprocess';
