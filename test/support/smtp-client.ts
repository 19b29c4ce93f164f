// A lean SMTP client for benchmarks and tests: one socket with Nagle off (nodemailer 7 leaves it on, and its
// small writes then wait out the peer's delayed ACK, 40 ms a message, whatever the server does),
// commands in lock-step, the message dot-stuffed once up front.
import net from 'node:net';

export class SmtpClient {
  private buffer = '';
  private waiting: Array<(line: string) => void> = [];
  private failure: Error | undefined;

  private constructor(private readonly socket: net.Socket) {
    socket.setNoDelay(true);
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      this.buffer += chunk;
      for (;;) {
        // A reply ends with a line whose code is followed by a space (not a dash).
        const m = /^(?:\d{3}-[^\r\n]*\r\n)*\d{3}(?: [^\r\n]*)?\r\n/.exec(this.buffer);
        if (!m) break;
        this.buffer = this.buffer.slice(m[0].length);
        this.waiting.shift()?.(m[0]);
      }
    });
    const fail = (e: Error): void => {
      this.failure = e;
      for (const w of this.waiting.splice(0)) w(`000 ${e.message}\r\n`);
    };
    socket.on('error', fail);
    socket.on('close', () => fail(new Error('connection closed')));
  }

  static async connect(port: number, host = '127.0.0.1'): Promise<SmtpClient> {
    const socket = net.connect(port, host);
    const client = new SmtpClient(socket);
    await client.expect(client.reply(), 220);
    await client.command('EHLO bench.local', 250);
    return client;
  }

  private reply(): Promise<string> {
    if (this.failure) return Promise.resolve(`000 ${this.failure.message}\r\n`);
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private async expect(p: Promise<string>, code: number): Promise<string> {
    const r = await p;
    if (!r.startsWith(String(code))) throw new SmtpReplyError(r.trim(), Number(r.slice(0, 3)));
    return r;
  }

  command(line: string, code: number): Promise<string> {
    const p = this.reply();
    this.socket.write(line + '\r\n');
    return this.expect(p, code);
  }

  /** One message; resolves with the final reply (250 ...), rejects with SmtpReplyError otherwise. */
  async send(from: string, to: string[], data: Buffer): Promise<string> {
    await this.command(`MAIL FROM:<${from}>`, 250);
    for (const r of to) await this.command(`RCPT TO:<${r}>`, 250);
    await this.command('DATA', 354);
    const p = this.reply();
    this.socket.write(Buffer.concat([dotStuff(data), Buffer.from('.\r\n')]));
    return this.expect(p, 250);
  }

  async quit(): Promise<void> {
    try {
      await this.command('QUIT', 221);
    } catch {
      // The server may already be gone.
    }
    this.socket.destroy();
  }

  destroy(): void {
    this.socket.destroy();
  }
}

export class SmtpReplyError extends Error {
  constructor(message: string, readonly code: number) {
    super(message);
  }
}

/** Lines starting with "." get another; the data ends with CRLF. */
export function dotStuff(data: Buffer): Buffer {
  let text = data.toString('latin1');
  if (!text.endsWith('\r\n')) text += '\r\n';
  return Buffer.from(text.replace(/(^|\r\n)\./g, '$1..'), 'latin1');
}
