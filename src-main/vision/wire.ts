import type { ErrorData } from '../common/errors';
import type { LabelsOut, MaskOut, PathOut, Pixels, WatershedOptions } from './ops';

/** Messages between VisionWorker and its thread. */
export type VisionRequest =
  | { id: number; op: 'wand'; pixels: Pixels; x: number; y: number; tolerance: number }
  | { id: number; op: 'grabcut'; pixels: Pixels; box: { x: number; y: number; w: number; h: number }; iterations: number }
  | { id: number; op: 'watershed'; pixels: Pixels; options: WatershedOptions }
  | { id: number; op: 'scissors'; pixels: Pixels; from: { x: number; y: number }; to: { x: number; y: number } }
  /** Live Mats and WebAssembly heap size (tests check nothing leaks between calls). */
  | { id: number; op: 'stats' };

export interface VisionStats {
  /** Bytes of the WebAssembly heap. */
  heapBytes: number;
  /** Calls served since the thread started. */
  calls: number;
  /**
   * Where in the heap a fresh 1 MB Mat lands: the same address call after call while every Mat
   * made is freed, further on when some are not (the allocator cannot reuse their memory).
   */
  probeAddress: number;
}

export type VisionReply =
  | { id: number; ok: true; value: MaskOut | LabelsOut | PathOut | VisionStats }
  | { id: number; ok: false; error: ErrorData & { stack?: string } };
