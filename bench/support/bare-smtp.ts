// The SMTP baseline: smtp-server with the listener's protocol settings that reads every message to
// the end and throws it away. Prints {"smtpPort": N} once it listens; stops on SIGTERM.
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

const server = new SMTPServer({
  name: 'bare.local', banner: 'bare', size: 25 * 1024 * 1024, maxClients: 100, disableReverseLookup: true, logger: false,
  authOptional: true, disabledCommands: ['STARTTLS', 'AUTH'], hideENHANCEDSTATUSCODES: false,
  onData(stream, _session, cb) {
    stream.on('data', () => undefined);
    stream.on('end', () => cb(null, '2.6.0 Message accepted and discarded'));
  },
});
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ smtpPort: (server.server.address() as AddressInfo).port }) + '\n');
});
process.once('SIGTERM', () => server.close(() => process.exit(0)));
