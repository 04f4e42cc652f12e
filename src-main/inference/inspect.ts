import fs from 'node:fs';
import { proposeManifest } from '../common/inference/manifest';
import { readOnnxMetadata, readOnnxOutputOps } from '../common/inference/onnxMetadata';
import type { ModelIo, ModelManifest } from '../common/inference/types';
import { getSession, type SessionOptions } from './sessions';

export interface ModelInspection extends ModelIo {
  metadata: Record<string, string>;
  /** Null when the outputs fit no decoder family; `problems` then says what was expected. */
  proposed: ModelManifest | null;
  problems: string[];
  /** The op making each output's values (see readOnnxOutputOps); absent when the graph is unreadable. */
  outputOps?: Record<string, string>;
}

/**
 * What "add a custom model" shows: inputs, outputs, Ultralytics metadata and a proposed
 * manifest. The session is loaded on the CPU and cached, so the first test run reuses it when it
 * asks for the same thread settings (`threads`: those of the runs to come); a run with other
 * settings is another session, loaded again.
 */
export async function inspectModel(file: string, threads: Pick<SessionOptions, 'intraOpThreads' | 'spinning'> = {}): Promise<ModelInspection> {
  const { session } = await getSession(file, { providers: ['cpu'], ...threads });
  const dimsOf = (m: (typeof session.inputMetadata)[number]): (number | string)[] => (m.isTensor ? [...m.shape] : []);
  const io: ModelIo = {
    inputs: session.inputMetadata.map((m) => ({ name: m.name, dims: dimsOf(m) })),
    outputs: session.outputMetadata.map((m) => ({ name: m.name, dims: dimsOf(m) })),
  };
  const problems: string[] = [];
  let metadata: Record<string, string> = {};
  let outputOps: Record<string, string> | undefined;
  try {
    const bytes = await fs.promises.readFile(file);
    metadata = readOnnxMetadata(bytes);
    outputOps = readOnnxOutputOps(bytes);
  } catch (e) {
    problems.push(`${file}: metadata unreadable: ${e instanceof Error ? e.message : String(e)}`);
  }
  const p = proposeManifest(io, metadata, file, outputOps ? { outputOps } : {});
  if (p.manifest && metadata['license']) p.manifest.licence = metadata['license'];
  return { ...io, metadata, proposed: p.manifest, problems: [...problems, ...p.problems], ...(outputOps ? { outputOps } : {}) };
}
