// The outbound route without a smarthost: external mail is kept in the capture store (see
// server/store/captured.ts and the /admin/captured routes).
import type { CapturedMail } from '../store/captured.js';
import type { OutboundHandover, OutboundMessage, OutboundRoute } from './route.js';

export class CaptureRoute implements OutboundRoute {
  readonly name = 'capture' as const;
  constructor(private readonly captured: CapturedMail) {}

  async send(m: OutboundMessage): Promise<OutboundHandover> {
    return {
      commit: () => {
        this.captured.insert({
          mailFrom: m.mailFrom, rcptTo: m.rcptTo, raw: m.raw, origin: m.origin, submittedBy: m.submittedBy,
          subject: m.subject, messageId: m.messageId,
        });
      },
      refused: [],
    };
  }

  async close(): Promise<void> {}
}
