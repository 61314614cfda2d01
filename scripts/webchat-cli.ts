// webchat-cli: one command for everything a person does in pChat, for AI sessions and
// scripts (SPEC.md "CLI"; flag-compatible with the seed's webchat_cli.py). See --help.
import { check, HELP, parse, type Options } from './cli/args.ts';
import { CliError, EXIT } from './cli/errors.ts';
import { Printer } from './cli/format.ts';
import { inbox } from './cli/inbox.ts';
import { listPersonas } from './cli/personas.ts';
import { search } from './cli/search.ts';
import { send } from './cli/send.ts';
import { guiUrl, openSession, presenceBody } from './cli/session.ts';
import { watch } from './cli/watch.ts';

export const CLI_VERSION = '0.1.0';

function list(printer: Printer) {
  const personas = listPersonas();
  if (!personas.length && !printer.json) process.stderr.write('webchat-cli: no personas stored yet (run webchat-cli EMAIL to create one)\n');
  for (const p of personas) {
    const { token, ...shown } = p;
    printer.result(
      { type: 'persona', ...shown, logged_in: !!token },
      [
        `${p.email}${p.persona ? ` [${p.persona}]` : ''}`,
        `  address ${p.chat_address ?? '-'}  name ${p.display_name ?? '-'}  relay ${p.relay} (${p.relay_mode})`,
        `  device ${p.device_name ?? '-'}  session ${p.session_name ?? '-'}  channel ${p.listen_channel}  cursor ${p.cursor ?? '-'}`,
        `  logged in ${token ? 'yes' : 'no'}  last used ${p.last_used_at}`,
      ].join('\n'),
    );
  }
}

async function run(o: Options) {
  const printer = new Printer(o.json);
  if (o.help) return void process.stdout.write(HELP);
  if (o.version) return void process.stdout.write(`webchat-cli ${CLI_VERSION}\n`);
  if (o.list) return list(printer);

  const s = await openSession(o);
  const p = s.persona;
  if (!o.quietUrl) {
    const url = guiUrl(p);
    printer.result(
      { type: 'persona', email: p.email, persona: p.persona, chat_address: p.chat_address, display_name: p.display_name, relay: p.relay, gui_url: url },
      `${p.display_name} <${p.email}> as ${p.chat_address} on ${p.relay}\nGUI: ${url}`,
    );
  }
  const acting = o.to || o.inbox || o.watch || o.search !== undefined;
  if (o.search !== undefined) {
    const n = await search(s, o, printer);
    if (!n && !o.json) process.stderr.write('webchat-cli: nothing found\n');
  } else if (o.to) {
    const r = await send(s, o);
    printer.result(
      { type: 'sent', ...r },
      [`sent ${r.message_id} to ${r.to}`, ...r.attachments.map((a) => `    attachment (${a.kind}) ${a.name}: ${a.url}`)].join('\n'),
    );
  }
  if (o.inbox) {
    const n = await inbox(s, o, printer);
    if (!n && !o.json) process.stderr.write('webchat-cli: no new messages\n');
  }
  if (o.watch) await watch(s, o, printer);
  // A bare persona run names the session in the directory (device, session, channel).
  if (!acting) await s.client.call('POST', '/api/v1/webchat/presence', presenceBody(p, true));
}

async function main() {
  // stdout closed by its reader (EPIPE): printing stops there (Printer.event), not a crash.
  process.stdout.on('error', () => {});
  try {
    const o = parse(process.argv.slice(2));
    check(o);
    await run(o);
  } catch (err) {
    const e = err instanceof CliError ? err : new CliError(`unexpected failure: ${(err as Error)?.message ?? String(err)}`, EXIT.refused);
    process.stderr.write(`webchat-cli: ${e.message.replace(/\s*\n\s*/g, ' ')}\n`);
    process.exitCode = e.exitCode;
  }
}

await main();
