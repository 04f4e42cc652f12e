import { argSchemas, CHANNELS, type Channel } from '../common/contract';
import { AppError, toErrorData, type Result } from '../common/errors';
import type { Handlers } from './workspace';

/**
 * The single entry from any transport into the services: checks the channel, validates the
 * arguments against the contract and turns every failure into error data with a code.
 */
export async function dispatch(handlers: Handlers, channel: string, rawArgs: unknown): Promise<Result<unknown>> {
  if (!(CHANNELS as readonly string[]).includes(channel)) {
    return { ok: false, error: { code: 'UNKNOWN_CHANNEL', message: `unknown channel "${String(channel).slice(0, 80)}"` } };
  }
  const c = channel as Channel;
  const parsed = argSchemas[c].safeParse(rawArgs ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.length ? issue.path.join('.') : 'arguments';
    return {
      ok: false,
      error: { code: 'INVALID_ARGUMENT', message: `${c}: ${where}: ${issue?.message ?? 'invalid'}`, detail: { channel: c } },
    };
  }
  try {
    const handler = handlers[c] as (a: unknown) => unknown;
    const value = await handler(parsed.data);
    return { ok: true, value };
  } catch (e) {
    if (!(e instanceof AppError)) console.error(`[tessera] ${c} failed:`, e);
    return { ok: false, error: toErrorData(e) };
  }
}
