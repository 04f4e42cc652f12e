/**
 * The address of a team server (`tessera serve`) as typed on the Start screen: http or https
 * only, a host, no user name or password in it. Its origin is what the app opens and the only
 * place the team window may go; the login page is `<origin>/login`.
 */
export type TeamServerUrl = { ok: true; origin: string; login: string } | { ok: false; reason: string };

export function parseTeamServerUrl(raw: string): TeamServerUrl {
  const text = raw.trim();
  if (!text) return { ok: false, reason: 'enter the address of the team server, e.g. https://tessera.example.org' };
  const u = URL.parse(text);
  if (!u) return { ok: false, reason: `${text}: not a URL; enter e.g. https://tessera.example.org:8443` };
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return { ok: false, reason: `${text}: a team server is reached over http:// or https://, not ${u.protocol}` };
  if (!u.hostname) return { ok: false, reason: `${text}: the address has no host` };
  if (u.username || u.password) return { ok: false, reason: `${text}: leave the user name and password out of the address; the server asks for them` };
  return { ok: true, origin: u.origin, login: `${u.origin}/login` };
}
