// Login-code mail. With SMTP configured, nodemailer sends it; otherwise the code goes to the
// relay log (the dev path: the operator reads it there). Sending happens after the code is
// journaled and never blocks the response, so known and unknown emails answer alike.
import type { Transporter } from 'nodemailer';
import type { Logger } from 'pino';
import type { Config } from './config.ts';

export interface Mailer {
  sendLoginCode(email: string, code: string): Promise<void>;
  close(): void;
}

export function createMailer(config: Config, log: Logger): Mailer {
  const smtp = config.smtp;
  if (!smtp) {
    return {
      async sendLoginCode(email, code) {
        // Deliberately not under a redacted key: this line IS the delivery channel.
        log.warn({ email }, `login code for ${email}: ${code} (no SMTP_HOST configured; the code is only in this log)`);
      },
      close() {},
    };
  }
  // nodemailer is loaded with the first mail, not at start-up.
  let transport: Promise<Transporter> | null = null;
  const connect = async () => (await import('nodemailer')).default.createTransport({
    host: smtp.host,
    port: smtp.port,
    secure: smtp.secure,
    auth: smtp.username ? { user: smtp.username, pass: smtp.password ?? '' } : undefined,
    connectionTimeout: 10_000,
    greetingTimeout: 10_000,
    socketTimeout: 20_000,
  });
  return {
    async sendLoginCode(email, code) {
      try {
        await (await (transport ??= connect())).sendMail({
          from: smtp.from,
          to: email,
          subject: `${code} is your ${config.relayName} login code`,
          text: `Your login code is ${code}.\n\nIt expires in 10 minutes and works once. If you did not ask for it, ignore this mail.\n`,
        });
      } catch (err) {
        log.error({ email, err: (err as Error).message }, 'login code mail failed');
      }
    },
    close() {
      void transport?.then((t) => t.close(), () => {});
    },
  };
}
