import { type SESv2Client, SendEmailCommand } from '@aws-sdk/client-sesv2';
import type { ApprovalEmail, EmailSender } from '../../approvals/email-channel.js';

/** Sends approval emails through SES (v2 SendEmail), one message per approver, from a verified sender identity. */
export class SesEmailSender implements EmailSender {
  constructor(
    private readonly client: SESv2Client,
    private readonly from: string,
  ) {}

  async send(email: ApprovalEmail): Promise<void> {
    await this.client.send(
      new SendEmailCommand({
        FromEmailAddress: this.from,
        Destination: { ToAddresses: [email.to] },
        Content: {
          Simple: {
            Subject: { Data: email.subject, Charset: 'UTF-8' },
            Body: { Text: { Data: email.text, Charset: 'UTF-8' }, Html: { Data: email.html, Charset: 'UTF-8' } },
          },
        },
      }),
    );
  }
}
