import { startWebServer } from '../../src-main/web/server';

/**
 * Runs the browser-mode server in a process of its own (argv: static folder, config folder, root),
 * printing `{url, port}` as one JSON line: a test can then tell whether a request ended the process.
 */
const [staticDir, configDir, root] = process.argv.slice(2);
if (!staticDir || !configDir || !root) throw new Error('usage: webServerProcess <staticDir> <configDir> <root>');
const server = await startWebServer({ staticDir, configDir, version: 'test', roots: [root] });
process.stdout.write(`${JSON.stringify({ url: server.url, port: server.port })}\n`);
process.on('SIGTERM', () => void server.close().then(() => process.exit(0)));
