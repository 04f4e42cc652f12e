import { parseTeamServerUrl } from '../../src-main/common/teamUrl';
import { call } from '../bridge';

/**
 * Connects to a team server from the Start screen. In a browser the page goes to the server's
 * login page; the desktop app opens the server in a window of its own (the address is checked
 * again there). Returns the origin opened in a window, null when this page is leaving; throws
 * with the reason when the address is not one.
 */
export async function connectTeamServer(raw: string, mode: 'electron' | 'web', go: (url: string) => void = (url) => location.assign(url)): Promise<string | null> {
  const server = parseTeamServerUrl(raw);
  if (!server.ok) throw new Error(server.reason);
  if (mode === 'electron') return (await call('app:openTeamServer', { url: raw.trim() })).origin;
  go(server.login);
  return null;
}
